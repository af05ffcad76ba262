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

  python benchmarks/hypergradient_signal.py --config=configs/shapes_study.py --workdir=W \
      --config.seed=S --config.data.corrupt_fraction=0.2 --config.data.corrupt_seed=S \
      [--draws=120] [--methods=finite_difference,exact] [--report_every=10] \
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
from caption_aug.data import prepare  # noqa: E402
from caption_aug.training.checks import hypergradient_check  # noqa: E402
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
_OUT = flags.DEFINE_string("out", "benchmarks/results/hypergradient_signal.json", "JSON output.")


def main(_):
    tf.config.experimental.enable_op_determinism()
    config = _CONFIG.value
    with joint_draws.workdir_copy(_WORKDIR.value) as workdir:
        corrupted = corruption.read_indices(workdir)
        if not corrupted:
            raise app.UsageError(f"{_WORKDIR.value} has no corrupted captions: train it with "
                                 "--config.data.corrupt_fraction > 0")
        prepared = prepare.prepare(config, workdir)
        with hypergradient_check.second_order_moments():
            run = joint_trainer.build_run(config, workdir, prepared)  # the copy has no joint/
            signal = corruption_signal.Signal(int(run.step.weight_logits.shape[0]), corrupted,
                                              _METHODS.value)
            epsilon_scale, methods = config.joint.epsilon_scale, None
            for draw, (batches, noise) in enumerate(joint_draws.draws(
                    config, prepared, run, _DRAWS.value)):
                methods = methods or {m: joint_draws.compiled(run.step, m, batches, noise)
                                      for m in _METHODS.value}
                signal.add(batches["lm"]["caption_index"].numpy(), {
                    name: architect.batch_normalised(
                        function(batches, noise, tf.constant(epsilon_scale, dtype)).a).numpy()
                    for name, (function, dtype) in methods.items()})
                if (draw + 1) % _REPORT_EVERY.value == 0 or draw + 1 == _DRAWS.value:
                    signal.accumulate(draw + 1)
                    results_file.write(_OUT.value, {"workdir": _WORKDIR.value, "seed": config.seed,
                                                    "epsilon_scale": epsilon_scale,
                                                    **signal.summary()})


if __name__ == "__main__":
    app.run(main)
