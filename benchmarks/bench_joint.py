"""Stage 4's cost: the joint iteration against the three plain stage steps on the same batches.

Models of the chosen config (default: the embedded CPU default, `configs/shapes.py`) with random
weights and random batches of its shapes (`caption_aug.training.random_models`), all in one run:
- plain steps: the LM update, the GAN iteration (1 D + gan.generator_steps G updates), the
  captioner update on the real batch;
- the joint iteration with the hypergradient, and its phases timed alone (hypergradient, LM,
  GAN, captioner update on real + synthetic);
- peak memory: each of "captioner step" and "joint step" in its own process (peak RSS on CPU,
  peak GPU memory on a GPU);
- all of it under each `--mixed_precision` policy (the same random weights and batches), with the
  float32 / policy time ratio of every step when there are several.

  python benchmarks/bench_joint.py [--config=configs/shapes.py] [--repeats=5] [--jit_compile]
      [--mixed_precision=float32,mixed_bfloat16] [--out=benchmarks/results/bench_joint.json]
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_CONFIG = flags.DEFINE_string("config", "configs/shapes.py", "Config file whose sizes to measure.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls of each step (median reported).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_joint.json", "JSON output.")
_JIT = flags.DEFINE_bool("jit_compile", False, "XLA-compile the joint step (joint.jit_compile).")
_POLICIES = flags.DEFINE_list("mixed_precision", ["float32"],
                              "Keras dtype policies to time (config.mixed_precision values).")
_MEMORY_OF = flags.DEFINE_enum("memory_of", None, ["captioner", "joint"],
                               "Internal: run one step kind and print its peak memory.")


def _load_config(path: str, policy: str):
    """The config file's config, with `policy` as its (and Keras') dtype policy."""
    import importlib.util
    import keras
    spec = importlib.util.spec_from_file_location("bench_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.joint.jit_compile = _JIT.value
    config.mixed_precision = policy
    keras.config.set_dtype_policy(policy)
    return config


def _setup(config):
    import tensorflow as tf
    from caption_aug.training import captioner_trainer
    from caption_aug.training.checks import random_models
    from caption_aug.training.joint import step as joint_step
    config = random_models.offline_copy(config)
    vocabulary = config.tokenizer.vocab_size
    models, weight_logits, gan = random_models.build(config, vocabulary)
    step = joint_step.JointStep(config, models, weight_logits, gan)
    batches = random_models.batches(config, vocabulary, seed=0)
    batches = tf.nest.map_structure(tf.convert_to_tensor, batches)
    plain_captioner = captioner_trainer.CaptionerStep(config.captioner, models.captioner,
                                                         config.max_consecutive_skips)
    return config, step, batches, plain_captioner


def _median_seconds(fn, repeats: int) -> float:
    fn()  # traces and compiles
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _timings(config, step, batches, plain_captioner, repeats: int) -> dict:
    import tensorflow as tf
    from caption_aug import compiled
    from caption_aug import precision
    from caption_aug.training.joint import hypergradient

    def hypergradient_only():  # as the joint step takes it: probes in float32
        with precision.float32_layers(step.keras_models()):
            problem = step.problem(batches, step.gan_noise_for(batches["gan"][0]))
            return hypergradient.compute(config.joint.hypergradient, problem,
                                         *step.arguments(), step.rates,
                                         epsilon_scale=config.joint.epsilon_scale).a

    phases = {
        "lm_step": compiled.function(lambda: step._lm_update(batches["lm"])),
        "gan_iteration": compiled.function(lambda: step._gan_updates(batches["gan"])),
        "captioner_step": lambda: plain_captioner.train_step(batches["real"]),
        "joint_hypergradient": compiled.function(hypergradient_only),
        "joint_captioner_real_plus_synthetic": compiled.function(
            lambda: step._captioner_update(batches["real"], batches["synthetic"])),
        "joint_iteration": lambda: step(batches, True),
        "joint_iteration_without_hypergradient": lambda: step(batches, False),
    }
    seconds = {name: _median_seconds(fn, repeats) for name, fn in phases.items()}
    plain = seconds["lm_step"] + seconds["gan_iteration"] + seconds["captioner_step"]
    return {"seconds": {k: round(v, 4) for k, v in seconds.items()},
            "plain_steps_sum": round(plain, 4),
            "joint_over_plain": round(seconds["joint_iteration"] / plain, 2),
            "joint_without_hypergradient_over_plain": round(
                seconds["joint_iteration_without_hypergradient"] / plain, 2),
            "hypergradient_share_of_joint": round(
                seconds["joint_hypergradient"] / seconds["joint_iteration"], 2)}


def _peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (reset by exec, unlike getrusage's ru_maxrss,
    which a child inherits from the parent that spawned it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _peak_memory(kind: str, policy: str) -> dict:
    """Runs one step kind in this process and reports its peak memory."""
    import tensorflow as tf
    if kind == "joint":
        _, step, batches, _ = _setup(_load_config(_CONFIG.value, policy))
        run = lambda: step(batches, True)  # noqa: E731
    else:  # only what a plain captioner step needs
        from caption_aug.models.captioner import build_captioner
        from caption_aug.training import captioner_trainer
        from caption_aug.training.checks import random_models
        config = random_models.offline_copy(_load_config(_CONFIG.value, policy))
        vocabulary = config.tokenizer.vocab_size
        model = build_captioner(config.captioner, vocabulary, config.pipeline.captioner_image_size)
        trainer = captioner_trainer.CaptionerStep(config.captioner, model,
                                                     config.max_consecutive_skips)
        real = tf.nest.map_structure(tf.convert_to_tensor,
                                     random_models.batches(config, vocabulary, seed=0)["real"])
        run = lambda: trainer.train_step(real)  # noqa: E731
    for _ in range(2):
        run()
    result = {"kind": kind, "peak_rss_mb": _peak_rss_mb()}
    if tf.config.list_physical_devices("GPU"):
        result["peak_gpu_mb"] = round(
            tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return result


def _memory_in_subprocess(kind: str, policy: str) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--memory_of={kind}",
                          f"--config={_CONFIG.value}", f"--jit_compile={_JIT.value}",
                          f"--mixed_precision={policy}"], capture_output=True, text=True,
                         check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(policy: str) -> dict:
    """Timings and peak memory of every step under one dtype policy."""
    config, step, batches, plain_captioner = _setup(_load_config(_CONFIG.value, policy))
    results = {"hypergradient": config.joint.hypergradient,
               **_timings(config, step, batches, plain_captioner, _REPEATS.value)}
    memory = {kind: _memory_in_subprocess(kind, policy) for kind in ("captioner", "joint")}
    key = "peak_gpu_mb" if "peak_gpu_mb" in memory["joint"] else "peak_rss_mb"
    memory["joint_over_captioner"] = round(memory["joint"][key] / memory["captioner"][key], 2)
    print(f"--- {policy}")
    for name, value in results["seconds"].items():
        print(f"{name:42s} {value * 1000:9.1f} ms")
    print(f"joint iteration / (LM + GAN + captioner steps): {results['joint_over_plain']}x "
          f"(goal <= 3x); without the hypergradient: "
          f"{results['joint_without_hypergradient_over_plain']}x")
    print(f"peak memory, joint vs captioner step: {memory['joint'][key]} vs "
          f"{memory['captioner'][key]} MB ({key})", flush=True)
    return {**results, "memory": memory}


def main(argv):
    del argv
    if _MEMORY_OF.value:
        print(json.dumps(_peak_memory(_MEMORY_OF.value, _POLICIES.value[0])))
        return
    results = {"config": _CONFIG.value, "repeats": _REPEATS.value, "jit_compile": _JIT.value,
               "policies": {policy: _measure(policy) for policy in _POLICIES.value}}
    first, *others = _POLICIES.value
    for policy in others:  # > 1: the policy is faster than the first
        results[f"speedup_{policy}_over_{first}"] = speedups = {
            name: round(seconds / results["policies"][policy]["seconds"][name], 2)
            for name, seconds in results["policies"][first]["seconds"].items()}
        print(f"--- {first} time / {policy} time")
        for name, ratio in speedups.items():
            print(f"{name:42s} {ratio:9.2f}x")
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
