"""What the hypergradient benchmarks share: a run's warmed-up stages loaded as the joint phase
loads them, the batches it would draw, and one hypergradient method compiled for them."""

import itertools
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from caption_aug import compiled  # noqa: E402
from caption_aug import precision  # noqa: E402
from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.models.second_order import second_order_moments  # noqa: E402
from caption_aug.training.joint import hypergradient  # noqa: E402
from caption_aug.training.joint import step as joint_step_lib  # noqa: E402
from caption_aug.training.joint import trainer as joint_trainer  # noqa: E402

# What the joint phase and its evaluations wrote: not read by the benchmarks, so not copied.
NOT_READ = ("joint", "evaluation", "export", "tensorboard", "captioner_control")


@contextmanager
def warm_run(config, workdir: str):
    """(prepared data, the joint trainer's run) from a temporary copy of `workdir`'s warm-up
    stages (preparing the data writes its summary, so the workdir itself is never written), with
    batch moments right to the second derivative, as the exact hypergradients need."""
    with tempfile.TemporaryDirectory() as copy:
        shutil.copytree(workdir, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*NOT_READ))
        prepared = prepare.prepare(config, copy)
        with second_order_moments():
            yield prepared, joint_trainer.build_run(config, copy, prepared)  # a fresh joint/


def draws(config, prepared, run: joint_trainer.JointRun, count=None):
    """(batches, L_gen noise) of the joint phase's first `count` iterations (all, if None), from
    the warm LM, one at a time."""
    streams = joint_trainer.batch_streams(
        config, pipelines.Datasets(config, prepared.splits, prepared.tokenizer), 0)
    for draw in itertools.islice(itertools.count(), count):
        batches = tf.nest.map_structure(tf.convert_to_tensor, joint_trainer.next_batches(
            streams, run.sampler, config, draw))
        yield batches, run.step.gan_noise_for(batches["gan"][0])


def compiled(step, method: str, batches, noise):
    """`method`'s hypergradient on `step`'s current weights as one tf.function of (batches,
    noise, epsilon scale), traced once for every caption length; half-precision layers probe in
    float32, as the joint step's do. Returns it with the dtype of its epsilon scale."""
    dtype = tf.float64 if step.weight_logits.dtype == tf.float64 else tf.float32
    signature = [joint_step_lib.iteration_signature(batches),
                 tf.nest.map_structure(tf.TensorSpec.from_tensor, noise), tf.TensorSpec([], dtype)]

    def run(batches, noise, epsilon_scale):
        with precision.float32_layers(step.keras_models()):
            return hypergradient.compute(method, step.problem(batches, noise), *step.arguments(),
                                         step.rates, epsilon_scale=epsilon_scale)

    return compiled.function(run, input_signature=signature), dtype
