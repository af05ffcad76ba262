"""How diverse can grammatical caption_shapes captions be? The ceiling of issue 10's distinct-2.

  python benchmarks/caption_diversity_ceiling.py --workdir=runs/shapes [--captions=320]
      [--out=benchmarks/results/caption_diversity_ceiling.json]

Distinct-2 is unique bigrams over all bigrams, so a corpus that only uses the grammar's bigrams
scores at most (the grammar's bigram inventory) / (its own bigram count). This counts the
inventory in the normalised train captions (and how it saturates), then for seeded samples of
`--captions` real captions (the joint phase draws 20 x 16 = 320) their distinct-2, self-BLEU-4
and that bound.
"""

import os
import random
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import prepare  # noqa: E402
from caption_aug.evaluation import lm_eval  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir of the default config (its data is made "
                               "there if missing).", required=True)
_CAPTIONS = flags.DEFINE_integer("captions", 320, "Captions per sample (the joint phase's 320).")
_SAMPLES = flags.DEFINE_integer("samples", 3, "Seeded samples of real captions.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/caption_diversity_ceiling.json",
                           "JSON output.")


def main(argv):
    del argv
    captions = prepare.prepare(shapes.get_config(), _WORKDIR.value).splits["train"].flat_captions
    inventory, saturation = set(), {}
    for count, caption in enumerate(captions, 1):
        inventory.update(lm_eval.word_ngrams([caption], 2))
        if count in (1000, 5000, 10000) or count == len(captions):
            saturation[count] = len(inventory)
    print(f"distinct bigrams in the first N of {len(captions)} train captions: {saturation}")
    samples = []
    for seed in range(_SAMPLES.value):
        sample = random.Random(seed).sample(captions, _CAPTIONS.value)
        total = len(lm_eval.word_ngrams(sample, 2))
        row = {"seed": seed, "bigrams": total, "distinct_2": lm_eval.distinct_n(sample, 2),
               "distinct_2_bound": len(inventory) / total,
               "self_bleu_4": lm_eval.self_bleu(sample)}
        samples.append(row)
        print(f"seed {seed}: {_CAPTIONS.value} real captions, {total} bigrams: distinct-2 "
              f"{row['distinct_2']:.3f} (grammatical bound {row['distinct_2_bound']:.3f}), "
              f"self-BLEU-4 {row['self_bleu_4']:.3f}")
    results_file.write(_OUT.value, {"train_captions": len(captions),
                                    "bigram_inventory_by_captions": saturation,
                                    "samples": samples})


if __name__ == "__main__":
    app.run(main)
