"""The captioner loss: padding is masked, soft targets equal hard ones, per-example weights, the
doubly stochastic term, attention supervision, and exact second derivatives through soft targets
(stage 4 needs them)."""

import numpy as np
import tensorflow as tf

from caption_aug.models.captioner import attention_supervision_loss, caption_loss, teacher_forcing

B, T, V, P = 3, 5, 7, 4


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    logits = tf.constant(rng.normal(size=(B, T, V)), tf.float32)
    targets = tf.constant(rng.integers(0, V, (B, T)), tf.int32)
    mask = tf.constant([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]) > 0
    alphas = tf.nn.softmax(tf.constant(rng.normal(size=(B, T, P)), tf.float32))
    return logits, targets, mask, alphas


def test_teacher_forcing_shifts_tokens_and_mask():
    tokens = tf.constant([[0, 5, 6, 0, 1]])
    mask = tf.constant([[True, True, True, True, False]])
    inputs, targets, target_mask = teacher_forcing(tokens, mask)
    assert inputs.numpy().tolist() == [[0, 5, 6, 0]]
    assert targets.numpy().tolist() == [[5, 6, 0, 1]]
    assert target_mask.numpy().tolist() == [[True, True, True, False]]


def test_changing_padded_positions_changes_nothing():
    logits, targets, mask, alphas = _batch()
    loss = caption_loss(logits, targets, mask, alphas, alpha_c=1.0)
    padded = ~mask.numpy()
    noisy_targets = np.where(padded, (targets.numpy() + 3) % V, targets.numpy())
    noisy_logits = np.where(padded[..., None], logits.numpy() * 5 + 2, logits.numpy())
    noisy_alphas = np.where(padded[..., None], 0.9, alphas.numpy())
    other = caption_loss(tf.constant(noisy_logits), tf.constant(noisy_targets), mask,
                         tf.constant(noisy_alphas), alpha_c=1.0)
    for a, b in zip(loss, other):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    unmasked = caption_loss(tf.constant(noisy_logits), tf.constant(noisy_targets),
                            tf.ones_like(mask), tf.constant(noisy_alphas), alpha_c=1.0)
    assert abs(float(unmasked.total) - float(loss.total)) > 1e-3


def test_cross_entropy_is_the_mean_over_real_tokens():
    logits, targets, mask, alphas = _batch()
    loss = caption_loss(logits, targets, mask, alphas, alpha_c=0.0)
    log_probs = tf.nn.log_softmax(logits).numpy()
    picked = np.take_along_axis(log_probs, targets.numpy()[..., None], -1)[..., 0]
    expected = -picked[mask.numpy()].mean()
    np.testing.assert_allclose(loss.cross_entropy, expected, rtol=1e-6)
    np.testing.assert_allclose(loss.total, expected, rtol=1e-6)


def test_soft_one_hot_targets_equal_int_targets():
    logits, targets, mask, alphas = _batch()
    hard = caption_loss(logits, targets, mask, alphas, alpha_c=1.0)
    soft = caption_loss(logits, tf.one_hot(targets, V), mask, alphas, alpha_c=1.0)
    for a, b in zip(hard, soft):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_doubly_stochastic_term_is_zero_when_each_pixel_gets_total_attention_one():
    logits, targets, _, _ = _batch()
    mask = tf.ones([B, P], tf.bool)  # T = P steps, attention cycles through the pixels
    alphas = tf.tile(tf.eye(P)[None], [B, 1, 1])
    loss = caption_loss(logits[:, :P], targets[:, :P], mask, alphas, alpha_c=1.0)
    assert float(loss.attention_penalty) == 0.0
    uniform = caption_loss(logits[:, :P], targets[:, :P], mask, tf.fill([B, P, P], 1.0 / P), 1.0)
    assert float(uniform.attention_penalty) == 0.0
    all_on_one = tf.one_hot(tf.zeros([B, P], tf.int32), P)
    penalised = caption_loss(logits[:, :P], targets[:, :P], mask, all_on_one, alpha_c=2.0)
    expected = ((1 - P) ** 2 + (P - 1) * 1.0) / P  # pixel 0 gets P, the others 0
    np.testing.assert_allclose(penalised.attention_penalty, expected, rtol=1e-6)
    np.testing.assert_allclose(penalised.total - penalised.cross_entropy, 2.0 * expected, rtol=1e-5)


def test_per_example_weights_scale_each_captions_terms():
    logits, targets, mask, alphas = _batch()
    base = caption_loss(logits, targets, mask, alphas, alpha_c=1.0)
    doubled = caption_loss(logits, targets, mask, alphas, 1.0, example_weights=tf.fill([B], 2.0))
    np.testing.assert_allclose(doubled.total, 2 * base.total, rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        weighted = caption_loss(logits, targets, mask, alphas, 1.0,
                                example_weights=tf.constant([1.0, 0.0, 0.5]))
    gradient = tape.gradient(weighted.total, logits).numpy()
    assert not gradient[1].any() and gradient[0].any()
    np.testing.assert_allclose(gradient[2] * 2, _unweighted_gradient(logits, targets, mask, alphas)[2],
                               rtol=1e-5)
    np.testing.assert_allclose(weighted.per_example, base.per_example, rtol=1e-6)


def _unweighted_gradient(logits, targets, mask, alphas):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = caption_loss(logits, targets, mask, alphas, 1.0)
    return tape.gradient(loss.total, logits).numpy()


def test_second_derivative_through_soft_targets_is_exact():
    """d/dp <d loss/d logits, v> by nested tapes equals its finite difference (a fused softmax
    cross-entropy would give zeros here)."""
    logits, targets, mask, alphas = _batch()
    soft = tf.nn.softmax(tf.one_hot(targets, V) * 3.0)
    direction = tf.constant(np.random.default_rng(1).normal(size=(B, T, V)), tf.float32)

    def directional(p):
        with tf.GradientTape() as inner:
            inner.watch(logits)
            loss = caption_loss(logits, p, mask, alphas, alpha_c=1.0).total
        return tf.reduce_sum(inner.gradient(loss, logits) * direction)

    with tf.GradientTape() as outer:
        outer.watch(soft)
        value = directional(soft)
    exact = outer.gradient(value, soft).numpy()
    assert np.abs(exact).max() > 1e-3
    bump = np.zeros(soft.shape, np.float32)
    bump[0, 1, 2] = 1e-2
    numeric = (float(directional(soft + bump)) - float(directional(soft - bump))) / 2e-2
    np.testing.assert_allclose(exact[0, 1, 2], numeric, rtol=1e-2, atol=1e-5)


def test_attention_supervision_rewards_attention_on_the_named_object_only():
    masks = tf.constant([[[1.0, 0, 0, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 0]]])   # [B, objects, P]
    token_objects = tf.constant([[0, 1, 2]])             # words naming nothing, object 0, object 1
    right = tf.constant([[[0.25] * 4, [0.97, 0.01, 0.01, 0.01], [0.01, 0.01, 0.49, 0.49]]])
    wrong = tf.constant([[[0.25] * 4, [0.01, 0.01, 0.49, 0.49], [0.97, 0.01, 0.01, 0.01]]])
    right_loss = float(attention_supervision_loss(right, token_objects, masks))
    expected = -(np.log(0.97) + np.log(0.49)) / 2        # the mean over the two grounded words
    np.testing.assert_allclose(right_loss, expected, rtol=1e-5)
    assert float(attention_supervision_loss(wrong, token_objects, masks)) > right_loss + 3
    elsewhere = tf.concat([[[[0.7, 0.1, 0.1, 0.1]]], right[:, 1:]], axis=1)
    np.testing.assert_allclose(attention_supervision_loss(elsewhere, token_objects, masks),
                               right_loss, rtol=1e-6)    # an ungrounded word's attention is free
    assert float(attention_supervision_loss(right, tf.zeros_like(token_objects), masks)) == 0.0
