"""DARTS candidate ops and the mixed op: shapes, strides, and one-hot mixing equals the chosen op."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from caption_aug.models.stage2gan import darts_ops


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", darts_ops.OPS)
def test_every_op_keeps_channels_and_applies_its_stride(name, stride):
    x = tf.random.normal([2, 8, 8, 6], seed=1)
    op = darts_ops.make_op(name, 6, stride, layer_name=name)
    y = darts_ops.MixedOp._apply(op, x, training=True)
    assert tuple(y.shape) == (2, 8 // stride, 8 // stride, 6)
    if name == "none":
        assert np.all(y.numpy() == 0)
    elif name == "skip_connect" and stride == 1:
        np.testing.assert_array_equal(y.numpy(), x.numpy())
    else:
        assert np.std(y.numpy()) > 0


def test_dilated_conv_with_stride_equals_the_unstrided_one_subsampled():
    x = tf.random.normal([2, 8, 8, 4], seed=2)
    strided = darts_ops.DilConv(4, 3, 2)
    plain = darts_ops.DilConv(4, 3, 1)
    strided(x)
    plain(x)
    plain.set_weights(strided.get_weights())
    np.testing.assert_allclose(strided(x).numpy(), plain(x).numpy()[:, ::2, ::2, :], atol=1e-5)


@pytest.mark.parametrize("chosen", range(len(darts_ops.OPS)))
def test_one_hot_mixing_weights_give_exactly_the_chosen_op(chosen):
    x = tf.random.normal([3, 8, 8, 4], seed=3)
    mixed = darts_ops.MixedOp(4, 2)
    one_hot = tf.one_hot(chosen, len(darts_ops.OPS))
    out = mixed(x, mixing_weights=one_hot, training=False)
    alone = darts_ops.MixedOp._apply(mixed.candidates[chosen], x, training=False)
    np.testing.assert_allclose(out.numpy(), alone.numpy(), rtol=1e-6, atol=1e-6)


def test_mixed_op_is_the_weighted_sum_of_its_ops():
    x = tf.random.normal([2, 8, 8, 4], seed=4)
    mixed = darts_ops.MixedOp(4, 1)
    weights = tf.nn.softmax(tf.random.normal([len(darts_ops.OPS)], seed=5))
    out = mixed(x, mixing_weights=weights, training=False)
    expected = sum(weights[k] * darts_ops.MixedOp._apply(op, x, training=False)
                   for k, op in enumerate(mixed.candidates))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_supernet_edge_refuses_to_run_without_weights():
    with pytest.raises(ValueError, match="needs weights"):
        darts_ops.MixedOp(4, 1)(tf.zeros([1, 4, 4, 4]))


def test_unknown_op_is_named():
    with pytest.raises(ValueError, match="conv_7x7"):
        darts_ops.make_op("conv_7x7", 4, 1, layer_name="x")


@pytest.mark.parametrize("stride", [1, 2])
def test_every_op_and_the_mixed_op_round_trip_their_config(stride):
    """Each candidate op and a whole supernet edge rebuild from their config (serialised by
    name) and, given the original's weights, compute the same output."""
    x = tf.random.normal([2, 8, 8, 6], seed=3)
    mixing = tf.nn.softmax(tf.random.normal([len(darts_ops.OPS)], seed=4))
    layers = [darts_ops.make_op(name, 6, stride, layer_name=name) for name in darts_ops.OPS]
    layers.append(darts_ops.MixedOp(6, stride, name="edge"))
    for layer in layers:
        copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(copy) is type(layer) and copy.get_config() == layer.get_config()
        if isinstance(layer, darts_ops.MixedOp):
            outputs = [op(x, mixing_weights=mixing, training=False) for op in (layer, copy)]
            copy.set_weights(layer.get_weights())
            outputs = [op(x, mixing_weights=mixing, training=False) for op in (layer, copy)]
        else:
            darts_ops.MixedOp._apply(copy, x, training=False)
            darts_ops.MixedOp._apply(layer, x, training=False)
            copy.set_weights(layer.get_weights())
            outputs = [darts_ops.MixedOp._apply(op, x, training=False) for op in (layer, copy)]
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
