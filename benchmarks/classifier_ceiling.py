"""The attribute classifier's ceiling (its colour and shape accuracy on the real single-object test
images) and training seconds, by image size, steps, stem width and seed: the evaluator's own
trust figures (README, Stage 2). Trains each classifier once under --workdir (resumable: a rerun
reloads what it trained and only adds missing rows).

  python benchmarks/classifier_ceiling.py --workdir=runs/ceiling [--size=64] [--steps=1600]
      [--stems=16,0] [--seeds=0,1,2] [--out=benchmarks/results/classifier_ceiling.json]
"""

import os
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import prepare  # noqa: E402
from caption_aug.evaluation import attribute_classifier  # noqa: E402
from configs import shapes_long  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_WORKDIR = flags.DEFINE_string("workdir", None, "Where the data and the classifiers live.")
_SIZE = flags.DEFINE_integer("size", 64, "Image side the classifier reads.")
_STEPS = flags.DEFINE_integer("steps", 1600, "Training steps (each head).")
_STEMS = flags.DEFINE_list("stems", ["16", "0"], "Stem widths to compare (0: no stem).")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/classifier_ceiling.json", "JSON output.")


def main(_):
    config = shapes_long.get_config()          # caption_shapes at 64x64, the classifier's settings
    cfg = config.attribute_classifier
    data = prepare.prepare(config, _WORKDIR.value)
    rows = []
    for stem in map(int, _STEMS.value):
        for seed in map(int, _SEEDS.value):
            settings = {**cfg.to_dict(), "steps": _STEPS.value, "stem": stem}
            start = time.perf_counter()
            result = attribute_classifier.train_or_load(
                data.splits["train"], data.splits["test"], _SIZE.value,
                os.path.join(_WORKDIR.value, "attribute_classifier"), settings,
                config.data.cache_max_mb, seed, config.max_consecutive_skips)
            rows.append(dict(size=_SIZE.value, steps=_STEPS.value, stem=stem, seed=seed,
                             seconds=time.perf_counter() - start, **result.real_accuracy))
            print(f"size {_SIZE.value}, {_STEPS.value} steps, stem {stem}, seed {seed}: colour "
                  f"{rows[-1]['colour']:.3f}, shape {rows[-1]['shape']:.3f} "
                  f"({rows[-1]['seconds']:.0f} s)", flush=True)
    results_file.write(_OUT.value, {"rows": rows, "readable": attribute_classifier.READABLE})


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir")
    app.run(main)
