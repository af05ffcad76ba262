"""`--mode=dry_run`: builds every model of a config with random weights and runs joint iterations
on random tensors of the configured shapes, under the config's strategy and mixed precision
(recorded beside the timings). It checks a GPU config (sizes, memory, speed) without its data, its
pretrained weights or a network; it writes nothing but WORKDIR/dry_run.json.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import distribute
from caption_aug.training.checks import random_models
from caption_aug.training.joint import step as joint_step_lib

ITERATIONS = 3  # the first one traces and compiles; the others show the steady speed


def _parameters(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def run_mode(config, workdir: str) -> dict:
    config = random_models.offline_copy(config)
    vocabulary_size = config.tokenizer.vocab_size
    models, weight_logits, gan = random_models.build(config, vocabulary_size)
    step = joint_step_lib.JointStep(config, models, weight_logits, gan)
    result = {"parameters": {name: _parameters(variables)
                             for name, variables in step.weights().items()},
              "vocabulary_size": vocabulary_size, "replicas": distribute.replicas(),
              "mixed_precision": config.mixed_precision, "seconds_per_iteration": []}
    for iteration in range(ITERATIONS):
        batches = random_models.batches(config, vocabulary_size, seed=config.seed + iteration)
        started = time.time()
        figures = step(batches, with_hypergradient=True)
        losses = {k: float(v) for k, v in figures.items()}
        result["seconds_per_iteration"].append(round(time.time() - started, 3))
        logging.info("dry run iteration %d: %.2f s", iteration + 1,
                     result["seconds_per_iteration"][-1])
    result["finite"] = bool(np.all(np.isfinite(list(losses.values()))))
    result["last_figures"] = losses
    if tf.config.list_physical_devices("GPU"):
        result["gpu_peak_memory_bytes"] = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "dry_run.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("parameters", "seconds_per_iteration", "finite")}))
    if not result["finite"]:
        raise ValueError(f"dry run produced non-finite figures: {losses}")
    return result
