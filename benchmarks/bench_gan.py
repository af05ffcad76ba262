"""Stage2GAN on CPU: training iterations/s (one discriminator + `gan.generator_steps` generator
updates, batch 64) of the supernet and of a fixed derived discriminator at 32x32 and 64x64 with
the default model sizes, and the default recipe's conditional attribute accuracy against training
seconds (its `train_gan` run resumed in steps of `--curve_step` iterations, scored after each).

  python benchmarks/bench_gan.py [--iterations=3] [--skip_default_run] [--curve_step=100]
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
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.models.stage2gan import discriminator  # noqa: E402
from caption_aug.models.stage2gan import factory as gan_factory  # noqa: E402
from caption_aug.training import encoder_trainer  # noqa: E402
from caption_aug.training import gan_trainer  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_ITERATIONS = flags.DEFINE_integer("iterations", 3, "Timed iterations per size (after a warm-up).")
_SKIP_DEFAULT_RUN = flags.DEFINE_bool("skip_default_run", False,
                                      "Only measure speed, not the default config's training.")
_CURVE_STEP = flags.DEFINE_integer("curve_step", 100, "Iterations between accuracy points.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_gan.json", "JSON output.")


def iterations_per_second(size: int, workdir: str, iterations: int, derived: bool) -> dict:
    """Times `train_iteration` (1 D + generator_steps G updates) on real caption_shapes batches,
    with the supernet or a fixed derived discriminator (all sep_conv_3x3, the costliest op kind
    that derive() usually picks). The caption embedding is the trainable stand-in: the matching
    loss's frozen encoder needs a trained one, so it is switched off here."""
    config = shapes.get_config()
    config.data.caption_shapes.update(dict(train_size=400, validation_size=20, test_size=20,
                                           resolution=size))
    config.pipeline.gan_image_size = size
    config.gan.update(dict(conditioning="trainable", matching_weight=0.0))
    data = prepare.prepare(config, workdir)
    architecture = None
    if derived:
        architecture = ["sep_conv_3x3"] * len(discriminator.edge_strides(size))
    models = gan_factory.build_models(config.gan, size, data.tokenizer.vocabulary_size, 0,
                                      architecture)
    trainer = gan_trainer.GanStep(config.gan, models, 0, config.max_consecutive_skips)
    batches = iter(gan_trainer.training_batches(
        config, pipelines.Datasets(config, data.splits, data.tokenizer)))
    trainer.train_iteration(batches)   # traces both steps
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.train_iteration(batches)
    seconds = time.perf_counter() - start
    return {"image_size": size, "discriminator": "derived" if derived else "supernet",
            "batch_size": config.gan.batch_size,
            "generator_steps": config.gan.generator_steps, "iterations": iterations,
            "seconds": round(seconds, 2), "iterations_per_s": round(iterations / seconds, 3),
            "generator_params": models.generator.count_params(),
            "discriminator_weights": sum(int(v.numpy().size)
                                         for v in models.discriminator.trainable_variables),
            "arch_weights_shape": (None if derived
                                   else list(models.discriminator.arch_weights.shape))}


def default_run(workdir: str, curve_step: int) -> dict:
    """`--mode=train_encoder` (the default GAN conditioning needs it), then `--mode=train_gan`
    with configs/shapes.py, resumed every `curve_step` iterations and scored each time: colour
    accuracy against the training seconds so far."""
    config = shapes.get_config()
    start = time.perf_counter()
    encoder_trainer.run_mode(config, workdir)
    encoder_seconds = time.perf_counter() - start
    total, curve = config.gan.iterations, []
    seconds = 0.0
    for iterations in list(range(curve_step, total, curve_step)) + [total]:
        config.gan.iterations = iterations
        metrics = gan_trainer.run_mode(config, workdir)
        seconds += metrics["training_seconds_this_run"]
        accuracy = metrics["conditional_accuracy"]
        curve.append({"iterations": iterations, "training_seconds": round(seconds, 1),
                      "colour": accuracy["colour"]["accuracy"],
                      "shape": accuracy["shape"]["accuracy"],
                      "objects": accuracy["objects"]["accuracy"],
                      "diversity_ratio": accuracy["diversity"]["ratio"]})
        print("accuracy_curve", json.dumps(curve[-1]), flush=True)
    return {"encoder_seconds": round(encoder_seconds, 1), "training_seconds": round(seconds, 1),
            "iterations": total, "image_size": config.pipeline.gan_image_size,
            "accuracy_against_seconds": curve,
            "conditional_accuracy": metrics["conditional_accuracy"],
            "derived_architecture": metrics["architecture"]["architecture"]}


def main(_):
    logging.set_verbosity(logging.INFO)
    results = {"cpu_count": os.cpu_count(),
               "note": "2 shared CPU cores: other jobs ran at the same time, figures are noisy"}
    with tempfile.TemporaryDirectory() as workdir:
        for size in (32, 64):
            for derived in (False, True):
                name = f"speed_{size}_{'derived' if derived else 'supernet'}"
                results[name] = iterations_per_second(size, os.path.join(workdir, name),
                                                      _ITERATIONS.value, derived)
                print(name, json.dumps(results[name]), flush=True)
            results[f"supernet_over_derived_{size}"] = round(
                results[f"speed_{size}_supernet"]["iterations_per_s"]
                / results[f"speed_{size}_derived"]["iterations_per_s"], 3)
        if not _SKIP_DEFAULT_RUN.value:
            results["default_config_run"] = default_run(os.path.join(workdir, "default"),
                                                        _CURVE_STEP.value)
            print("default_config_run", json.dumps(results["default_config_run"]), flush=True)
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
