"""Does a trained caption_shapes captioner read spatial relations? A teacher-forced probe.

  python benchmarks/probe_relations.py --workdir=runs/bench_captioner_curve/default/seed0
      [--arm=default] [--seed=0] [--out=benchmarks/results/probe_relations.json]

Generated captions state few relations and mix relation errors with object errors, so their
relation precision says little. Here every validation caption is fed to the captioner
(built as its `bench_captioner_curve.py` arm trained it), and at
each direction word of a true relation ("left", "right", "above"/"over", "below"/"under"/
"beneath") the probe asks whether the captioner gives the true direction more probability than
its opposite (each summed over its words). Chance is 0.5; a captioner that reads positions
scores near 1.
"""

import collections
import json
import os
import sys

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.models.captioner.loss import teacher_forcing  # noqa: E402
from caption_aug.training import captioner_trainer  # noqa: E402
from caption_aug.workdir import trained  # noqa: E402
from configs import shapes  # noqa: E402
from captioner_arms import ARMS  # noqa: E402  (benchmarks/, the script's own folder)
import results_file  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir with a trained captioner.",
                               required=True)
_ARM = flags.DEFINE_enum("arm", "default", list(ARMS),
                         "The bench_captioner_curve arm the captioner was trained as.")
_SEED = flags.DEFINE_integer("seed", 0, "The config.seed it was trained with.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/probe_relations.json", "JSON output.")

DIRECTIONS = {"left": ("left",), "right": ("right",), "above": ("above", "over"),
              "below": ("below", "under", "beneath")}
OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def direction_token_ids(keras_tokenizer) -> dict:
    """Token id of each direction word (as it follows a space) -> its direction."""
    ids = {}
    for direction, words in DIRECTIONS.items():
        for word in words:
            token_ids = keras_tokenizer.tokenize(" " + word)
            if len(token_ids) != 1:
                raise ValueError(f"{word!r} is not one token of this tokenizer")
            ids[int(token_ids[0])] = direction
    return ids


def probe(model, batches, token_direction: dict) -> dict:
    """Direction accuracy against the opposite direction, per direction and overall."""
    by_direction = {d: [tid for tid, dd in token_direction.items() if dd == d] for d in DIRECTIONS}
    right, total = collections.Counter(), collections.Counter()
    for batch in batches:
        inputs, targets, _ = teacher_forcing(batch["token_ids"], batch["padding_mask"])
        out = model({"image": batch["image"], "tokens": inputs}, training=False)
        probs, targets = tf.nn.softmax(out["logits"]).numpy(), targets.numpy()
        for b, t in zip(*np.nonzero(np.isin(targets, list(token_direction)))):
            direction = token_direction[int(targets[b, t])]
            p = {d: probs[b, t, by_direction[d]].sum() for d in (direction, OPPOSITE[direction])}
            total[direction] += 1
            right[direction] += bool(p[direction] > p[OPPOSITE[direction]])
    return {"accuracy": sum(right.values()) / max(sum(total.values()), 1),
            "chance": 0.5,
            "by_direction": {d: right[d] / total[d] for d in total},
            "direction_words": sum(total.values())}


def main(_):
    config = shapes.get_config()
    config.seed = _SEED.value
    config.captioner.update(ARMS[_ARM.value])
    data = prepare.prepare(config, _WORKDIR.value)
    model = trained.load_trained_captioner(config, _WORKDIR.value, data.tokenizer.vocabulary_size)
    batches = captioner_trainer.teacher_forced_validation(
        config, pipelines.Datasets(config, data.splits, data.tokenizer))
    results = {"workdir": _WORKDIR.value, "arm": _ARM.value, "seed": _SEED.value,
               **probe(model, batches, direction_token_ids(data.tokenizer.keras_tokenizer))}
    print(json.dumps(results))
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
