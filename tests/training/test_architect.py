"""The A and B update (`joint/architect.py`) on hand-made hypergradients: A's step keeps each
caption's hypergradient size relative to its batch, whatever the hypergradients' overall scale."""

import keras
import numpy as np
import tensorflow as tf

from caption_aug import compiled
from caption_aug.models.second_order import second_order_moments
from caption_aug.training.joint import architect as architect_lib
from caption_aug.training.joint import hypergradient
from configs import all_tiny


def test_batch_normalised_keeps_relative_sizes_and_zeros_at_any_scale():
    gradient = tf.constant([0.0, 2e-7, -1e-7, 0.0, 4e-7])
    normalised = architect_lib.batch_normalised(gradient).numpy()
    touched = normalised[[1, 2, 4]]
    np.testing.assert_allclose(np.sqrt(np.mean(touched ** 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(touched / touched[0], [1.0, -0.5, 2.0], rtol=1e-6)
    assert normalised[0] == normalised[3] == 0.0
    np.testing.assert_allclose(architect_lib.batch_normalised(gradient * 1e6).numpy(), normalised,
                               rtol=1e-5)
    assert not np.any(architect_lib.batch_normalised(tf.zeros([4])).numpy())


def test_each_caption_weight_moves_in_proportion_to_its_hypergradient():
    """Per-coordinate Adam moved both captions by the learning rate (the sign alone)."""
    config = all_tiny.get_config()
    config.joint.update_architecture = False
    logits = tf.Variable(tf.zeros([4]))
    arch = tf.Variable(tf.zeros([2, 3]))
    architect = architect_lib.Architect(config, logits, arch)
    architect.update(hypergradient.Hypergradients(a=tf.constant([1e-7, 0.0, -3e-7, 0.0]),
                                                  b=tf.ones([2, 3]), stats={}))
    step = -logits.numpy()
    np.testing.assert_allclose(step[2] / step[0], -3.0, rtol=1e-5)
    assert step[1] == step[3] == 0.0
    np.testing.assert_allclose(np.sqrt(np.mean(step[[0, 2]] ** 2)),
                               config.joint.caption_weights_lr, rtol=1e-5)
    assert not np.any(arch.numpy()), "B moved although frozen"


def _toy_problem(model) -> hypergradient.Problem:
    """A hypergradient problem whose "captioner" is `model` (batch norm in training mode) and
    whose synthetic inputs move with G and E: the second derivatives run through batch moments."""
    rng = np.random.default_rng(0)
    real, validation, synthetic = (tf.constant(rng.normal(size=[8, 4]), tf.float32)
                                   for _ in range(3))
    target = tf.constant(rng.normal(size=[8, 1]), tf.float32)
    non_trainable = [tf.convert_to_tensor(v) for v in model.non_trainable_variables]

    def captioner(weights, inputs):
        return model.stateless_call(weights, non_trainable, inputs, training=True)[0]

    return hypergradient.Problem(
        lm_loss=lambda G, A: tf.reduce_sum(tf.sigmoid(A) * tf.square(G[0] - 1.0)),
        generator_loss=lambda E, B: tf.reduce_sum(
            tf.nn.softmax(B) * tf.square(tf.reshape(E[0], [2, 4]) + 1.0)),
        real_loss=lambda W: tf.reduce_mean(tf.square(captioner(W, real))),
        synthetic_loss=lambda W, G, E: tf.reduce_mean(tf.square(
            captioner(W, synthetic * G[0][:4] + tf.sin(synthetic) * E[0][:4]))),
        validation_loss=lambda W: tf.reduce_mean(tf.square(captioner(W, validation) - target)))


def test_exact_hypergradients_take_batch_moments_right_to_the_second_derivative():
    """With `joint.hypergradient="exact"` the architect's nested tapes run under plain batch
    moments, as the check's reference does; under Keras's own (`tf.nn.moments`, the gradient
    through the mean stopped) the same tapes give another A and B hypergradient."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input([4]), keras.layers.Dense(6),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    config = all_tiny.get_config()
    config.joint.hypergradient = "exact"
    architect = architect_lib.Architect(config, tf.Variable(tf.zeros([8])),
                                        tf.Variable(tf.zeros([2, 4])))
    args = (_toy_problem(model), [tf.convert_to_tensor(v) for v in model.trainable_variables],
            [tf.fill([8], 0.5)], [tf.fill([8], 0.2)], tf.zeros([8]), tf.zeros([2, 4]))

    def exact():
        return compiled.function(lambda: hypergradient.exact(*args, architect.rates))()

    taken = compiled.function(lambda: architect.hypergradients(*args))()
    with second_order_moments():
        reference = exact()
    keras_moments = exact()
    for part in ("a", "b"):
        np.testing.assert_allclose(getattr(taken, part), getattr(reference, part), rtol=1e-6)
        assert not np.allclose(getattr(keras_moments, part), getattr(reference, part), rtol=1e-2)
