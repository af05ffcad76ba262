"""The captioner's semantic accuracy against training seconds, by encoder (issue 11's curve).

  python benchmarks/bench_captioner_curve.py [--arms=default,unsupervised,plain] [--epochs=6]
      [--seed=0] [--workdir=runs/bench_captioner_curve]
      [--out=benchmarks/results/bench_captioner_curve.json]

Each arm runs `--mode=train_captioner` then `--mode=eval` (test split, beam 3) of configs/shapes.py
with the arm's overrides, `captioner.epochs=--epochs` and `seed=--seed`, in its own workdir
(ARM/seedS, resumed if it exists).
The curve has one point per epoch: seconds spent so far (encoder pretraining included) against the
greedy validation captions' all-claims-true and claim precision, the figures training.json records;
the end point adds the best checkpoint's test figures at beam 3. Arms:
  default:     base_config(): two convs per block, encoder pretrained 1,600 steps on single
               objects then 800 as a (colour, shape)-pair detector of all scenes; attention
               supervised by the objects' positions, position channels, the relation head
               (supervised at relation phrases by the object the phrase relates its subject to)
               and the deep output; best epoch by validation BLEU-4
  unsupervised: the default with the paper's decoder (config_schema.PAPER_DECODER: none of the
               four decoder options), the default until stop 32; every arm below starts from it
               except the last two
  by_all_true: unsupervised, best epoch by validation all-true (`captioner.select_by`)
  shapes_only: unsupervised without the 800 pair-detector steps
  encoder_lr1e-4: unsupervised, fine-tuning the pretrained encoder at a quarter of its lr
  plain:       the encoder before issue 11: one conv per block, no pretraining
  pretrain800, pretrain3200: unsupervised with half / twice the single-object pretraining steps
  coverage:    unsupervised, its attention told how much each pixel was attended so far
  alpha_c0:    unsupervised without the doubly stochastic attention term (captioner.alpha_c=0)
  supervised:  unsupervised, its attention at words naming an object supervised by the object's
               position (captioner.attention_supervision=1)
  supervised_positions: supervised, and each pixel's x, y appended to the encoder's features
  supervised_relation_head: the default without the deep output
  no_relation_head: the default without the relation head
"""

import json
import os
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.evaluation import captioner_eval  # noqa: E402
from caption_aug.training import captioner_trainer  # noqa: E402
from configs import shapes  # noqa: E402
from captioner_arms import ARMS  # noqa: E402  (benchmarks/, the script's own folder)
import results_file  # noqa: E402

_ARMS = flags.DEFINE_list("arms", list(ARMS), f"Arms to run, in order (of {sorted(ARMS)}).")
_EPOCHS = flags.DEFINE_integer("epochs", 6, "Captioner epochs per arm.")
_SEED = flags.DEFINE_integer("seed", 0, "The runs' config.seed (weights, batch order, dropout).")
_WORKDIR = flags.DEFINE_string("workdir", "", "Folder of the arms' workdirs (kept, so a rerun "
                               "resumes); empty: a temporary folder.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_captioner_curve.json", "JSON output.")


def curve(history: dict) -> list:
    """One point per epoch: cumulative seconds (pretraining first) and validation accuracy."""
    seconds = history.get("encoder_pretraining", {}).get("seconds", 0.0)
    points = []
    for epoch in history["epochs"]:
        seconds += epoch["train_seconds"]
        points.append({"epoch": epoch["epoch"], "training_seconds": round(seconds, 1),
                       "validation_all_true": epoch["semantic"]["all_true"],
                       "validation_precision": epoch["semantic"]["precision"],
                       "validation_all_mentioned": epoch["semantic"]["all_mentioned"],
                       "validation_bleu_4": epoch["validation"]["Bleu_4"]})
    return points


def run_arm(name: str, workdir: str, epochs: int, seed: int) -> dict:
    config = shapes.get_config()
    config.seed = seed
    config.captioner.update(ARMS[name])
    config.captioner.epochs = epochs
    config.captioner.eval_beam_sizes = (3,)
    history = captioner_trainer.run_mode(config, workdir)
    test = captioner_eval.run_mode(config, workdir)["beam_sizes"]["3"]
    points = curve(history)
    return {"overrides": ARMS[name], "epochs": epochs, "seed": seed,
            "pretraining": history.get("encoder_pretraining"),
            "training_seconds": points[-1]["training_seconds"],
            "accuracy_against_seconds": points,
            "selected_epoch": max((e["epoch"] for e in history["epochs"] if e["improved"]),
                                  default=None),
            "test_beam_3": {"all_true": test["semantic"]["all_true"],
                            "precision": test["semantic"]["precision"],
                            "all_mentioned": test["semantic"]["all_mentioned"],
                            "repeated_object": test["semantic"]["repeated_object"],
                            "bleu_4": test["Bleu_4"]}}


def main(_):
    logging.set_verbosity(logging.INFO)
    unknown = sorted(set(_ARMS.value) - set(ARMS))
    if unknown:
        raise app.UsageError(f"unknown arms {unknown}: expected some of {sorted(ARMS)}")
    results = {"cpu_count": os.cpu_count(),
               "note": "2 shared CPU cores: other jobs may have run at the same time"}
    with tempfile.TemporaryDirectory() as scratch:
        root = _WORKDIR.value or scratch
        for name in _ARMS.value:
            key = f"{name}_seed{_SEED.value}"
            results[key] = run_arm(name, os.path.join(root, name, f"seed{_SEED.value}"),
                                   _EPOCHS.value, _SEED.value)
            print(key, json.dumps(results[key]), flush=True)
            results_file.write(_OUT.value, results)   # after every arm: a long run keeps its part


if __name__ == "__main__":
    app.run(main)
