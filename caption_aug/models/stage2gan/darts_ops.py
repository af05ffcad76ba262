"""DARTS candidate operations and the mixed op that blends them with softmax(B_edge).

The ops follow quark0/darts (`operations.py`), with leaky ReLU (0.2) instead of ReLU as in a DCGAN
discriminator, and a single separable conv per `sep_conv` (DARTS stacks two) to stay CPU-sized.
Keras has no DARTS ops, hence these small layers. Every op maps [B, H, W, C] to
[B, H / stride, W / stride, C]; the cell in front of an edge fixes the channel count.
"""

import keras
from keras import layers
from keras import ops

from caption_aug import distribute
from caption_aug.models import tracking

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
       "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
ZERO_OP = "none"
LEAK = 0.2


@keras.saving.register_keras_serializable("caption_aug")
class Zero(layers.Layer):
    """The "none" op: zeros at the output resolution (lets an edge switch itself off)."""

    def __init__(self, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, x):
        return ops.zeros_like(x[:, ::self.stride, ::self.stride, :])

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable("caption_aug")
class Pool(layers.Layer):
    """3x3 max or average pooling followed by a non-affine batch norm, as DARTS does."""

    def __init__(self, kind: str, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.stride = kind, stride
        pool = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
        self.pool = pool(3, strides=stride, padding="same")
        self.norm = distribute.batch_normalization(center=False, scale=False)

    def call(self, x, training=False):
        return self.norm(self.pool(x), training=training)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "stride": self.stride}


def subsample(x, stride: int):
    """Every stride-th pixel: a 1x1 conv after it equals a strided 1x1 conv. (The gradient of a
    strided 1x1 Conv2D crashes TensorFlow 2.21's oneDNN CPU kernels in eager mode, seen here.)"""
    return x[:, ::stride, ::stride, :]


@keras.saving.register_keras_serializable("caption_aug")
class FactorizedReduce(layers.Layer):
    """Strided skip: 1x1 convs on the two pixel grids of stride 2 offset by one, concatenated."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.conv_a = layers.Conv2D(channels // 2, 1, use_bias=False)
        self.conv_b = layers.Conv2D(channels - channels // 2, 1, use_bias=False)
        self.norm = distribute.batch_normalization()

    def call(self, x, training=False):
        x = ops.leaky_relu(x, LEAK)
        shifted = ops.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
        y = ops.concatenate([self.conv_a(subsample(x, 2)), self.conv_b(subsample(shifted, 2))],
                            axis=-1)
        return self.norm(y, training=training)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable("caption_aug")
class Identity(layers.Layer):
    """The unstrided skip connection."""

    def call(self, x):
        return x


@keras.saving.register_keras_serializable("caption_aug")
class SepConv(layers.Layer):
    """Leaky ReLU, depthwise-separable k x k conv (strided where the cell downsamples), batch norm."""

    def __init__(self, channels: int, kernel_size: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.kernel_size, self.stride = channels, kernel_size, stride
        self.conv = layers.SeparableConv2D(channels, kernel_size, strides=stride, padding="same",
                                           use_bias=False)
        self.norm = distribute.batch_normalization()

    def call(self, x, training=False):
        return self.norm(self.conv(ops.leaky_relu(x, LEAK)), training=training)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "kernel_size": self.kernel_size, "stride": self.stride}


@keras.saving.register_keras_serializable("caption_aug")
class DilConv(layers.Layer):
    """Leaky ReLU, k x k depthwise conv with dilation 2, 1x1 conv, batch norm.

    TensorFlow's depthwise conv cannot be strided and dilated at once, so the stride is taken
    between the depthwise and the pointwise conv: the same output as a strided dilated one.
    """

    def __init__(self, channels: int, kernel_size: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.kernel_size, self.stride = channels, kernel_size, stride
        self.depthwise = layers.DepthwiseConv2D(kernel_size, dilation_rate=2, padding="same",
                                                use_bias=False)
        self.pointwise = layers.Conv2D(channels, 1, use_bias=False)
        self.norm = distribute.batch_normalization()

    def call(self, x, training=False):
        y = self.pointwise(subsample(self.depthwise(ops.leaky_relu(x, LEAK)), self.stride))
        return self.norm(y, training=training)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels,
                "kernel_size": self.kernel_size, "stride": self.stride}


def make_op(name: str, channels: int, stride: int, layer_name: str) -> layers.Layer:
    """The candidate op `name` (one of OPS) for an edge of `channels` channels."""
    if name == "none":
        return Zero(stride, name=layer_name)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(name[:3], stride, name=layer_name)
    if name == "skip_connect":
        return Identity(name=layer_name) if stride == 1 else FactorizedReduce(channels,
                                                                             name=layer_name)
    if name.startswith("sep_conv_"):
        return SepConv(channels, int(name[-1]), stride, name=layer_name)
    if name.startswith("dil_conv_"):
        return DilConv(channels, int(name[-1]), stride, name=layer_name)
    raise ValueError(f"unknown DARTS op {name!r}; expected one of {OPS}")


@keras.saving.register_keras_serializable("caption_aug")
class MixedOp(layers.Layer):
    """One edge: sum_o weights_o * op_o(x) over its candidate ops.

    A supernet edge holds every op in OPS and takes its mixing weights (softmax(B_edge)) per
    call; a derived edge holds a single op and needs none.
    """

    def __init__(self, channels: int, stride: int, op_names=OPS, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.stride = channels, stride
        self.op_names = tuple(op_names)
        self.candidates = tracking.checkpointed(self, "candidate", [
            make_op(name, channels, stride, layer_name=name) for name in self.op_names])

    def call(self, x, mixing_weights=None, training=False):
        if len(self.candidates) == 1 and mixing_weights is None:
            return self._apply(self.candidates[0], x, training)
        if mixing_weights is None:
            raise ValueError(f"edge {self.name} mixes {len(self.candidates)} ops and needs weights")
        outputs = [self._apply(op, x, training) for op in self.candidates]
        return sum(mixing_weights[k] * out for k, out in enumerate(outputs))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "stride": self.stride,
                "op_names": list(self.op_names)}

    @staticmethod
    def _apply(op, x, training):
        if isinstance(op, (Zero, Identity)):
            return op(x)
        return op(x, training=training)
