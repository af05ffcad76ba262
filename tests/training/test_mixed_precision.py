"""Mixed precision (`config.mixed_precision`): models compute in half precision and hand on
float32; under mixed_float16 each stage's guard scales the loss, and an overflowing step is
skipped and counted (the scale halves), never applied. The end-to-end run under mixed_bfloat16
is in test_joint.py."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from caption_aug import guard as guard_lib
from caption_aug import precision
from caption_aug.models.captioner import build_captioner
from caption_aug.training import captioner_trainer
from tests.models.captioner_fixtures import (IMAGE_SIZE, VOCAB, tiny_captioner_config,
                                             tiny_transformer)

TRANSFORMER = tiny_transformer(num_layers=1, dropout=0.0, max_length=8)


@contextlib.contextmanager
def policy(name):
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return {"image": tf.constant(rng.normal(size=(4, IMAGE_SIZE, IMAGE_SIZE, 3)), tf.float32),
            "token_ids": tf.constant(rng.integers(2, VOCAB, (4, 8)), tf.int32),
            "padding_mask": tf.ones((4, 8), tf.bool)}


def _step(name, overrides):
    with policy(name):
        keras.utils.set_random_seed(0)
        cfg = tiny_captioner_config(**overrides)
        model = build_captioner(cfg, VOCAB, IMAGE_SIZE)
        return captioner_trainer.CaptionerStep(cfg, model, max_consecutive_skips=5)


def test_full_precision_lifts_half_precision_only():
    assert precision.full_precision(tf.ones([2], tf.bfloat16)).dtype == tf.float32
    assert precision.full_precision(tf.ones([2], tf.float16)).dtype == tf.float32
    assert precision.full_precision(tf.ones([2], tf.float64)).dtype == tf.float64


def test_loss_scale_halves_on_overflow_and_doubles_after_its_interval():
    scale = guard_lib.DynamicLossScale("demo", initial=8.0, growth_interval=3)
    for finite, expected in [(False, 4.0), (True, 4.0), (True, 4.0), (True, 8.0), (False, 4.0),
                             (True, 4.0)]:
        scale.update(tf.constant(finite))
        assert float(scale.scale.numpy()) == expected


@pytest.mark.parametrize("name", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("overrides", [{"position_channels": True, "relation_head": True,
                                        "deep_output": True}, TRANSFORMER],
                         ids=["lstm_attention", "transformer"])
def test_a_mixed_captioner_step_computes_in_half_precision_and_trains_float32_weights(name,
                                                                                      overrides):
    step = _step(name, overrides)
    out = step.model({"image": _batch()["image"], "tokens": _batch()["token_ids"]})
    assert out["logits"].dtype == tf.float32  # handed on in float32
    half = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[name]
    assert step.model.decoder.word_logits.compute_dtype == half
    assert all(v.dtype == tf.float32 for v in step.model.trainable_variables)
    assert (step.guard.loss_scale is not None) == (name == "mixed_float16")
    before = [v.numpy().copy() for v in step.model.trainable_variables]
    losses = [float(step.train_step(_batch())["loss"]) for _ in range(5)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert step.guard.skipped_steps == 0
    assert any(not np.array_equal(b, v.numpy())
               for b, v in zip(before, step.model.trainable_variables))


def test_loss_scaled_gradients_equal_the_plain_ones():
    """The scale enters as the loss's output gradient and leaves by division: same gradients."""
    with policy("mixed_float16"):
        guard = guard_lib.NonFiniteGuard("demo", 3, "demo.lr")
    weight = tf.Variable([0.5, -2.0])
    guard.loss_scale.scale.assign(1024.0)
    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_sum(tf.cast(tf.cast(weight, tf.float16) ** 2, tf.float32))
    scaled = guard.gradients(tape, loss, [weight])[0]
    np.testing.assert_allclose(scaled, tape.gradient(loss, weight), rtol=1e-3)


def test_an_overflowing_float16_step_is_skipped_counted_and_halves_the_scale():
    step = _step("mixed_float16", {})
    scale = float(step.guard.loss_scale.scale.numpy())
    before = [v.numpy().copy() for v in step.model.variables]
    batch = _batch()

    @tf.function
    def overflowing_step():
        def loss_fn():  # a loss that overflows float16 once scaled: its gradient is infinite
            loss, _, total = step._losses(batch, training=True)
            return total * 1e30, {}
        return step.update(loss_fn)[0]

    assert not bool(overflowing_step())
    assert step.guard.skipped_steps == 1
    assert float(step.guard.loss_scale.scale.numpy()) == scale / 2
    for value, variable in zip(before, step.model.variables):
        np.testing.assert_array_equal(value, variable.numpy())
    assert bool(step.train_step(batch)["applied"])  # the next ordinary step is applied
