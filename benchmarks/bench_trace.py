"""What compiling the joint iteration costs, with AutoGraph on (TensorFlow's default) and off (how
`caption_aug.compiled` compiles every step): the Python trace, the first call (graph optimisation
and kernel creation) and a later call, on random models and batches of a config
(`caption_aug.training.checks.random_models`). Each measurement in its own process, the settings
alternating, since AutoGraph caches its conversions per process; the figures are medians.

  python benchmarks/bench_trace.py [--config=configs/all_tiny.py] [--repeats=2]
      [--out=benchmarks/results/bench_trace.json]
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_CONFIG = flags.DEFINE_string("config", "configs/all_tiny.py", "Config file whose sizes to trace.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Processes per setting (median reported).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_trace.json", "JSON output.")
_MEASURE = flags.DEFINE_enum("measure", None, ["autograph_on", "autograph_off"],
                             "Internal: measure one setting in this process, print its JSON.")
SETTINGS = ("autograph_on", "autograph_off")


def _measure(config_path: str, autograph: bool) -> dict:
    """Seconds to trace, first-call and call the joint iteration once more; its operations."""
    import importlib.util

    import tensorflow as tf
    from caption_aug import compiled
    from caption_aug.training.checks import random_models
    from caption_aug.training.joint import step as joint_step

    if autograph:  # every step compiled as before caption_aug.compiled turned AutoGraph off
        compiled.function = lambda fn=None, **options: (
            tf.function(fn, **options) if fn else tf.function(**options))
    spec = importlib.util.spec_from_file_location("bench_config", config_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = random_models.offline_copy(module.get_config())
    vocabulary = config.tokenizer.vocab_size
    models, weight_logits, gan = random_models.build(config, vocabulary)
    step = joint_step.JointStep(config, models, weight_logits, gan)
    batches = tf.nest.map_structure(tf.convert_to_tensor,
                                    random_models.batches(config, vocabulary, seed=0))
    function = step.iteration_function(batches, with_hypergradient=True)
    seconds = {}
    start = time.perf_counter()
    concrete = function.get_concrete_function(batches)
    seconds["trace"] = time.perf_counter() - start
    for name in ("first_call", "later_call"):
        start = time.perf_counter()
        function(batches)
        seconds[name] = time.perf_counter() - start
    return {"seconds": seconds, "operations": len(concrete.graph.get_operations())}


def _in_subprocess(setting: str) -> dict:
    result = subprocess.run([sys.executable, os.path.abspath(__file__), f"--measure={setting}",
                             f"--config={_CONFIG.value}"], capture_output=True, text=True,
                            check=False)
    if result.returncode:
        raise SystemExit(f"{setting} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    if _MEASURE.value:
        print(json.dumps(_measure(_CONFIG.value, _MEASURE.value == "autograph_on")))
        return
    runs = {setting: [] for setting in SETTINGS}
    for repeat in range(_REPEATS.value):
        for setting in SETTINGS:
            runs[setting].append(_in_subprocess(setting))
            print(f"repeat {repeat + 1}, {setting}: {runs[setting][-1]}", flush=True)
    medians = {setting: {name: statistics.median(r["seconds"][name] for r in results)
                         for name in ("trace", "first_call", "later_call")}
               for setting, results in runs.items()}
    ratios = {name: medians["autograph_off"][name] / medians["autograph_on"][name]
              for name in ("trace", "first_call", "later_call")}
    print(f"{'':14s} {'trace s':>8s} {'first call s':>13s} {'later call s':>13s}")
    for setting, row in medians.items():
        print(f"{setting:14s} {row['trace']:8.1f} {row['first_call']:13.1f} "
              f"{row['later_call']:13.2f}")
    print(f"{'off / on':14s} {ratios['trace']:8.2f} {ratios['first_call']:13.2f} "
          f"{ratios['later_call']:13.2f}")
    operations = {setting: [r["operations"] for r in results] for setting, results in runs.items()}
    print(f"operations: {operations}")
    results_file.write(_OUT.value, dict(config=_CONFIG.value, runs=runs, medians=medians,
                                        off_over_on=ratios, operations=operations))


if __name__ == "__main__":
    app.run(main)
