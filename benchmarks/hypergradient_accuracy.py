"""How close the joint step's hypergradients come to the exact ones on trained models.

From a run's warmed-up stages (a `--mode=all` workdir, or one whose warm-up phases have run) and
the first `--draws` batches its joint phase would take: dL_val/dA and dL_val/dB by the joint
step's finite differences (float32) at each of `--epsilon_scales`, exactly (nested tapes) in
float32, and by finite differences on the float64 twins at each of `--float64_epsilon_scales`
(where float32 rounding cannot be the cause of an error), each against the exact ones taken on
the float64 twins of the same models (the reference):
cosine and relative error per draw, their means, and the seconds of one call of each method
(the last draw's: traced before when --draws >= 2).

  python benchmarks/hypergradient_accuracy.py --workdir=runs/shapes [--config=configs/shapes.py] \
      [--draws=3] [--epsilon_scales=0.01,0.03,0.1,0.3,1] [--float64_epsilon_scales=0.01,1e-4,1e-6] \
      [--out=benchmarks/results/hypergradient_accuracy.json]

The config must be the one the workdir was trained with. The exact hypergradients need what
`--mode=check_hypergradient` needs (its module's docstring): oneDNN off (set here before
TensorFlow loads) and batch moments right to the second derivative; deterministic kernels are on.
The workdir is read from a temporary copy (preparing the data writes its summary): nothing is
written to it.
"""

import os
import sys
import time

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # before TensorFlow loads (see the docstring)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from caption_aug.training.checks import hypergradient_check  # noqa: E402
from caption_aug.training.checks import random_models  # noqa: E402
from caption_aug.training.joint import trainer as joint_trainer  # noqa: E402
import joint_draws  # noqa: E402  (benchmarks/, the script's own folder)
import results_file  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/shapes.py",
                                          "The config the workdir was trained with.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A workdir with warmed-up stages.", required=True)
_DRAWS = flags.DEFINE_integer("draws", 3, "Joint iterations' batches to take the figures on.")
_EPSILON_SCALES = flags.DEFINE_list("epsilon_scales", ["0.01", "0.03", "0.1", "0.3", "1"],
                                    "joint.epsilon_scale values of the finite differences.")
_FLOAT64_EPSILON_SCALES = flags.DEFINE_list(
    "float64_epsilon_scales", ["0.01", "1e-4", "1e-6"],
    "Epsilon scales of finite differences on the float64 twins.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/hypergradient_accuracy.json", "JSON output.")
def as_float64(structure):
    return tf.nest.map_structure(
        lambda t: tf.cast(t, tf.float64) if t.dtype == tf.float32 else t, structure)


def timed(function, dtype, batches, noise, epsilon_scale=0.0):
    started = time.time()
    result = function(batches, noise, tf.constant(epsilon_scale, dtype))
    return result, time.time() - started


def main(_):
    tf.config.experimental.enable_op_determinism()
    with joint_draws.warm_run(_CONFIG.value, _WORKDIR.value) as (prepared, run):
        results = measure(_CONFIG.value, prepared, run)
    results_file.write(_OUT.value, {"workdir": _WORKDIR.value, **results})


def measure(config, prepared, run: joint_trainer.JointRun) -> dict:
    """Every variant's agreement with the float64 exact hypergradients, per draw and on average,
    and the seconds of one call per method."""
    step = run.step
    reference = hypergradient_check.random_joint_step(
        random_models.offline_copy(config), prepared.tokenizer.vocabulary_size, "float64",
        num_captions=int(step.weight_logits.shape[0]))
    hypergradient_check.copy_weights(step, reference)
    draws = [{"float32": inputs, "float64": as_float64(inputs)}
             for inputs in joint_draws.draws(config, prepared, run, _DRAWS.value)]
    first = draws[0]
    compiled = joint_draws.compiled
    methods = {"exact float64": compiled(reference, "exact", *first["float64"]),
               "exact float32": compiled(step, "exact", *first["float32"]),
               "finite differences": compiled(step, "finite_difference", *first["float32"]),
               "finite differences float64": compiled(reference, "finite_difference",
                                                      *first["float64"])}
    variants = [("exact float32", "exact float32", 0.0)] + [
        (f"finite differences, epsilon scale {s}", "finite differences", float(s))
        for s in _EPSILON_SCALES.value] + [
        (f"float64 finite differences, epsilon scale {s}", "finite differences float64",
         float(s)) for s in _FLOAT64_EPSILON_SCALES.value]
    rows, seconds = [], {}
    for draw, inputs in enumerate(draws):
        exact, seconds["exact float64"] = timed(*methods["exact float64"], *inputs["float64"])
        row = {"draw": draw, "validation_loss": float(exact.stats["validation_loss"]),
               "exact_norm": {"a": float(tf.norm(exact.a)), "b": float(tf.norm(exact.b))}}
        for name, method, epsilon_scale in variants:
            dtype_name = "float64" if method.endswith("float64") else "float32"
            grads, seconds[method] = timed(*methods[method], *inputs[dtype_name],
                                           epsilon_scale)
            row[name] = {part: hypergradient_check.agreement(getattr(grads, part),
                                                             getattr(exact, part))
                         for part in ("a", "b")}
            print(f"draw {draw}  {name:48s} A: cosine {row[name]['a']['cosine']:+.3f} "
                  f"relative error {row[name]['a']['relative_error']:.3f}   B: cosine "
                  f"{row[name]['b']['cosine']:+.3f} relative error "
                  f"{row[name]['b']['relative_error']:.3f}", flush=True)
        rows.append(row)
    means = {name: {part: {key: float(np.mean([r[name][part][key] for r in rows]))
                           for key in ("cosine", "relative_error")} for part in ("a", "b")}
             for name, _, _ in variants}
    print("\nmeans over draws (against exact float64):")
    for name, mean in means.items():
        print(f"  {name:48s} A: cosine {mean['a']['cosine']:+.3f} relative error "
              f"{mean['a']['relative_error']:.3f}   B: cosine {mean['b']['cosine']:+.3f} "
              f"relative error {mean['b']['relative_error']:.3f}")
    print("seconds of one call (the last draw's, traced before):",
          {k: round(v, 2) for k, v in seconds.items()})
    return {"draws": rows, "means": means, "seconds_per_call": seconds}


if __name__ == "__main__":
    app.run(main)
