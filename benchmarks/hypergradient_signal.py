"""Does the hypergradient of A point the corrupted captions down, and how much per visit?

From a corrupted-setting run's warmed-up stages (`data.corrupt_fraction` > 0), with every weight
held where the warm-up left it, the A hypergradients of the joint phase's first `--draws` batches,
each divided by its root mean square over its LM batch as the architect's step divides it. Two
figures per method, each with chance at 0.5:
- per visit: the AUC with which -dL_val/da ranks a draw's corrupted captions below its clean ones
  (one LM batch), mean over draws with a 95% t interval;
- accumulated: the AUC of -(sum of a caption's normalised hypergradients) over the captions seen,
  after every `--report_every` draws (one pass over the train captions is about 40 draws at the
  study's sizes): what the joint phase's A could reach with that many visits were the other
  weights still.
With `--hold_lm_batch`, every draw takes the first draw's LM batch (the GAN, real, validation and
synthetic batches move on as the joint phase's do), and the figures add the mean cosine between
the draws' hypergradients of those captions: 1 if a caption's hypergradient kept its direction
whatever the draw's samples, about 0 if each draw set its own.

  python benchmarks/hypergradient_signal.py --config=configs/shapes_study.py --workdir=W \
      --config.seed=S --config.data.corrupt_fraction=0.2 --config.data.corrupt_seed=S \
      [--draws=120] [--methods=finite_difference,exact] [--report_every=10] [--hold_lm_batch] \
      [--out=benchmarks/results/hypergradient_signal.json]

The config (with its overrides) must be the one the workdir was trained with. The exact method
takes the check's precautions (oneDNN off, set here before TensorFlow loads; batch moments right
to the second derivative), as benchmarks/hypergradient_accuracy.py does; the finite differences
use the config's `joint.epsilon_scale`. The workdir is read from a temporary copy.
"""

import os
import sys

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # before TensorFlow loads (see the docstring)

import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from caption_aug.data import corruption  # noqa: E402
from caption_aug.training.joint import architect  # noqa: E402
from caption_aug.training.joint import trainer as joint_trainer  # noqa: E402
import corruption_signal  # noqa: E402  (benchmarks/, the script's own folder)
import joint_draws  # noqa: E402
import results_file  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/shapes_study.py",
                                          "The config the workdir was trained with.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A corrupted-setting workdir with warmed-up "
                               "stages.", required=True)
_DRAWS = flags.DEFINE_integer("draws", 120, "Joint iterations' batches to take.")
_METHODS = flags.DEFINE_list("methods", ["finite_difference", "exact"], "Hypergradient methods.")
_REPORT_EVERY = flags.DEFINE_integer("report_every", 10, "Draws between accumulated AUCs.")
_HOLD_LM_BATCH = flags.DEFINE_bool("hold_lm_batch", False, "Every draw takes the first draw's LM "
                                   "batch; adds the draws' mean pairwise cosine.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/hypergradient_signal.json", "JSON output.")


def main(_):
    tf.config.experimental.enable_op_determinism()
    config = _CONFIG.value
    corrupted = corruption.read_indices(_WORKDIR.value)
    if not corrupted:
        raise app.UsageError(f"{_WORKDIR.value} has no corrupted captions: train it with "
                             "--config.data.corrupt_fraction > 0")
    with joint_draws.warm_run(config, _WORKDIR.value) as (prepared, run):
        measure(config, prepared, run, corrupted)


def measure(config, prepared, run: joint_trainer.JointRun, corrupted) -> None:
    """Takes the draws, writing the figures after every `--report_every`."""
    signal = corruption_signal.Signal(int(run.step.weight_logits.shape[0]), corrupted,
                                      _METHODS.value)
    epsilon_scale, methods, held_lm = config.joint.epsilon_scale, None, None
    on_held_lm = {m: [] for m in _METHODS.value}
    for draw, (batches, noise) in enumerate(joint_draws.draws(config, prepared, run,
                                                              _DRAWS.value)):
        if _HOLD_LM_BATCH.value:
            held_lm = held_lm or batches["lm"]
            batches = {**batches, "lm": held_lm}
        methods = methods or {m: joint_draws.compiled(run.step, m, batches, noise)
                              for m in _METHODS.value}
        index = batches["lm"]["caption_index"].numpy()
        normalised = {name: architect.batch_normalised(
            function(batches, noise, tf.constant(epsilon_scale, dtype)).a).numpy()
            for name, (function, dtype) in methods.items()}
        signal.add(index, normalised)
        if _HOLD_LM_BATCH.value:
            for name, gradient in normalised.items():
                on_held_lm[name].append(gradient[index])
        if (draw + 1) % _REPORT_EVERY.value == 0 or draw + 1 == _DRAWS.value:
            signal.accumulate(draw + 1)
            figures = {"workdir": _WORKDIR.value, "seed": config.seed,
                       "epsilon_scale": epsilon_scale, "hold_lm_batch": _HOLD_LM_BATCH.value,
                       **signal.summary()}
            if _HOLD_LM_BATCH.value and draw:
                figures["mean_pairwise_cosine"] = {
                    m: corruption_signal.mean_pairwise_cosine(v) for m, v in on_held_lm.items()}
                print("mean pairwise cosine of the held LM batch's hypergradients:",
                      figures["mean_pairwise_cosine"], flush=True)
            results_file.write(_OUT.value, figures)


if __name__ == "__main__":
    app.run(main)
