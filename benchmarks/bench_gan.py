"""Stage2GAN on CPU: training iterations/s (one discriminator + five generator updates, batch 64)
at 32x32 and 64x64 with the default model sizes, and the conditional attribute accuracy after
the default config's `train_gan` run, with how long that run took.

  python benchmarks/bench_gan.py [--iterations=3] [--skip_default_run]
      [--out=benchmarks/results/bench_gan.json]
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from caption_aug.data import prepare  # noqa: E402
from caption_aug.training import encoder_trainer  # noqa: E402
from caption_aug.training import gan_trainer  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_ITERATIONS = flags.DEFINE_integer("iterations", 3, "Timed iterations per size (after a warm-up).")
_SKIP_DEFAULT_RUN = flags.DEFINE_bool("skip_default_run", False,
                                      "Only measure speed, not the default config's training.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_gan.json", "JSON output.")


def iterations_per_second(size: int, workdir: str, iterations: int) -> dict:
    """Times `train_iteration` (1 D + generator_steps G updates) on real caption_shapes batches."""
    config = shapes.get_config()
    config.data.caption_shapes.update(dict(train_size=400, validation_size=20, test_size=20,
                                           resolution=size))
    config.pipeline.gan_image_size = size
    data = prepare.prepare(config, workdir)
    models = gan_trainer.build_models(config.gan, size, data.tokenizer.vocabulary_size, 0)
    trainer = gan_trainer.GanTrainer(config.gan, models, 0, config.max_consecutive_skips)
    batches = iter(gan_trainer.training_batches(data.splits["train"], data.tokenizer, config, size))
    trainer.train_iteration(batches)   # traces both steps
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.train_iteration(batches)
    seconds = time.perf_counter() - start
    return {"image_size": size, "batch_size": config.gan.batch_size,
            "generator_steps": config.gan.generator_steps, "iterations": iterations,
            "seconds": round(seconds, 2), "iterations_per_s": round(iterations / seconds, 3),
            "generator_params": models.generator.count_params(),
            "discriminator_weights": sum(int(v.numpy().size)
                                         for v in models.discriminator.trainable_variables),
            "arch_weights_shape": list(models.discriminator.arch_weights.shape)}


def default_run(workdir: str) -> dict:
    """`--mode=train_encoder` (the default GAN conditioning needs it), then `--mode=train_gan`
    with configs/shapes.py, each timed, from data preparation to metrics."""
    config = shapes.get_config()
    start = time.perf_counter()
    encoder_trainer.run_mode(config, workdir)
    encoder_seconds = time.perf_counter() - start
    start = time.perf_counter()
    metrics = gan_trainer.run_mode(config, workdir)
    return {"encoder_seconds": round(encoder_seconds, 1),
            "seconds_total": round(time.perf_counter() - start, 1),
            "training_seconds": metrics["training_seconds_this_run"],
            "iterations": config.gan.iterations, "image_size": config.pipeline.gan_image_size,
            "conditional_accuracy": metrics["conditional_accuracy"],
            "derived_architecture": metrics["architecture"]["architecture"]}


def main(_):
    logging.set_verbosity(logging.INFO)
    results = {"cpu_count": os.cpu_count(),
               "note": "2 shared CPU cores: other jobs ran at the same time, figures are noisy"}
    with tempfile.TemporaryDirectory() as workdir:
        for size in (32, 64):
            results[f"speed_{size}"] = iterations_per_second(
                size, os.path.join(workdir, f"speed{size}"), _ITERATIONS.value)
            print(f"speed_{size}", json.dumps(results[f"speed_{size}"]), flush=True)
        if not _SKIP_DEFAULT_RUN.value:
            results["default_config_run"] = default_run(os.path.join(workdir, "default"))
            print("default_config_run", json.dumps(results["default_config_run"]), flush=True)
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
