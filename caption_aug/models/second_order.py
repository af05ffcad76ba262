"""Keras batch normalisation with batch moments that are right to the second derivative.

Keras's TensorFlow BatchNormalization takes batch moments with `tf.nn.moments`, whose variance
stops the gradient through the mean: first derivatives are right, second derivatives (the nested
tapes of exact hypergradients) are not, and Keras has no switch for it (TF 2.21, Keras 3). While
`second_order_moments()` is entered, layers called (or traced) take plain moments instead.
"""

import contextlib

import tensorflow as tf


@contextlib.contextmanager
def second_order_moments():
    """Keras BatchNormalization with batch moments that are right to the second derivative."""
    from keras.src.backend.tensorflow import nn as keras_tf_nn  # the function Keras BN calls

    def moments(x, axes, keepdims):
        mean = tf.reduce_mean(x, axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axes, keepdims=True)
        if not keepdims:
            mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
        return mean, variance

    original = keras_tf_nn._compute_moments
    keras_tf_nn._compute_moments = moments
    try:
        yield
    finally:
        keras_tf_nn._compute_moments = original
