"""The captioner's image encoder: a CNN cut before its pooling/classifier, adaptively pooled to an
ExE grid of F-dimensional features ("pixels" the decoder attends over).

Backbones: `resnet101` (the paper's), `resnet50` (keras.applications, weights None, "imagenet" or a
local weights file, fine-tuning only the named stages), `small_cnn` (a few strided conv blocks, for
CPU runs and tests) and `features` (the input already is a feature grid, e.g. precomputed).
"""

from typing import Sequence

import keras
from keras import layers
from keras import ops

from caption_aug import config_schema
from caption_aug import distribute

BACKBONES = config_schema.CAPTIONER_BACKBONES
RESNET_STAGES = config_schema.RESNET_STAGES
# The pipelines' "imagenet" normalisation is torchvision's (RGB, mean/std); keras.applications'
# ResNets were trained on caffe's (BGR, mean subtracted, 0..255). The encoder converts between them.
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _resnet(name: str):
    return {"resnet101": keras.applications.ResNet101,
            "resnet50": keras.applications.ResNet50}[name]


@keras.saving.register_keras_serializable("caption_aug")
class TorchToCaffe(layers.Layer):
    """torchvision-normalised RGB -> caffe-normalised BGR (what keras.applications ResNets expect)."""

    def call(self, images):
        rgb = (images * ops.array(_TORCH_STD) + ops.array(_TORCH_MEAN)) * 255.0
        return rgb[..., ::-1] - ops.array(_CAFFE_MEAN_BGR)


def resnet_backbone(name: str, image_size: int, weights, fine_tune_stages: Sequence[str]
                    ) -> keras.Model:
    """A keras.applications ResNet without avgpool/fc. `weights`: None, "imagenet" or a local
    .weights.h5 / .h5 file. Layers outside `fine_tune_stages` (e.g. conv3..conv5) are frozen,
    which also puts their batch norms in inference mode; the others' statistics are the global
    batch's under a strategy of several replicas."""
    unknown = set(fine_tune_stages) - set(RESNET_STAGES)
    if unknown:
        raise ValueError(f"unknown ResNet stages {sorted(unknown)}: expected some of {RESNET_STAGES}")
    inputs = keras.Input((image_size, image_size, 3))
    resnet = _resnet(name)(include_top=False, weights=weights or None,
                           input_tensor=TorchToCaffe()(inputs))
    for layer in resnet.layers:
        layer.trainable = layer.name.split("_")[0] in fine_tune_stages
    return distribute.synchronize_batch_norms(keras.Model(inputs, resnet.output, name=name))


def _conv_bn(x, width: int, strides: int, name: str):
    x = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    return distribute.batch_normalization(name=f"{name}_bn")(x)


def small_cnn(image_size: int, filters: Sequence[int], stem: int = 0, convs_per_block: int = 1,
              residual: bool = False) -> keras.Model:
    """Conv-BN-ReLU blocks (3x3, stride 2), each halving the resolution: 64x64 -> 8x8 with 3.

    `stem` > 0: first a stride-1 3x3 conv-BN-ReLU of that width at full resolution (it sees an
    object's outline before any striding blurs it). `convs_per_block` > 1: each block adds that
    many minus one unstrided 3x3 conv-BN-ReLUs at its resolution; with `residual` each of those
    is a residual unit, relu(x + BN(conv(x))). The defaults (0, 1, False) build exactly the plain
    stack (same layers, names and weight creation order)."""
    if convs_per_block < 1:
        raise ValueError(f"convs_per_block must be >= 1, got {convs_per_block}")
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    if stem:
        x = layers.ReLU(name="stem_relu")(_conv_bn(x, stem, 1, "stem"))
    for i, width in enumerate(filters):
        x = layers.ReLU(name=f"block{i}_relu")(_conv_bn(x, width, 2, f"block{i}"))
        for j in range(1, convs_per_block):
            y = _conv_bn(x, width, 1, f"block{i}_{j}")
            if residual:
                y = layers.Add(name=f"block{i}_{j}_add")([x, y])
            x = layers.ReLU(name=f"block{i}_{j}_relu")(y)
    return keras.Model(inputs, x, name="small_cnn")


def build_encoder(backbone: str, image_size: int, encoded_size: int, weights=None,
                  fine_tune_stages: Sequence[str] = ("conv3", "conv4", "conv5"),
                  small_cnn_filters: Sequence[int] = (32, 64, 128), small_cnn_stem: int = 0,
                  small_cnn_convs_per_block: int = 1, small_cnn_residual: bool = False,
                  feature_dim: int = 0, position_channels: bool = False) -> keras.Model:
    """image [B, S, S, 3] (or a feature grid for `features`) -> features [B, E*E, F] (F + 2 with
    `position_channels`: each pixel's x and y, see PositionChannels)."""
    if backbone in ("resnet101", "resnet50"):
        cnn = resnet_backbone(backbone, image_size, weights, fine_tune_stages)
    elif backbone == "small_cnn":
        if weights:
            raise ValueError("the small_cnn backbone has no pretrained weights; load a captioner "
                             "checkpoint instead")
        cnn = small_cnn(image_size, small_cnn_filters, small_cnn_stem,
                        small_cnn_convs_per_block, small_cnn_residual)
    elif backbone == "features":
        inputs = keras.Input((image_size, image_size, feature_dim))
        cnn = keras.Model(inputs, inputs, name="features")
    else:
        raise ValueError(f"unknown backbone {backbone!r}: expected one of {BACKBONES}")
    grid = layers.AdaptiveAveragePooling2D(encoded_size, name="adaptive_pool")(cnn.output)
    pixels = layers.Reshape((encoded_size * encoded_size, grid.shape[-1]), name="pixels")(grid)
    if position_channels:
        pixels = PositionChannels(encoded_size, name="position_channels")(pixels)
    return keras.Model(cnn.input, pixels, name="encoder")


@keras.saving.register_keras_serializable("caption_aug")
class PositionChannels(layers.Layer):
    """[B, E*E, F] -> [B, E*E, F + 2]: appends each pixel's x and y (cell centres in [0, 1],
    row-major, y down). Convolutions are translation-equivariant, so without them the attention's
    context says what it looked at but not where: relation words ("left of", "above") had no
    input to go by (their claims were 0.2-0.4 true, README Stage 3)."""

    def __init__(self, grid: int, **kwargs):
        super().__init__(**kwargs)
        self.grid = grid

    def call(self, pixels):
        centres = ops.cast((ops.arange(self.grid, dtype="float32") + 0.5) / self.grid,
                           pixels.dtype)  # (no half-precision range on CPU)
        y, x = ops.meshgrid(centres, centres, indexing="ij")
        coordinates = ops.reshape(ops.stack([x, y], axis=-1), (1, self.grid * self.grid, 2))
        coordinates = ops.broadcast_to(coordinates, (ops.shape(pixels)[0], self.grid ** 2, 2))
        return ops.concatenate([pixels, coordinates], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + 2,)

    def get_config(self):
        return {**super().get_config(), "grid": self.grid}
