"""The Stage2GAN generator (Reed et al. 2016 / DCGAN): caption embedding + noise -> image in [-1, 1].

The 1024-d caption embedding is projected to 128 (linear, batch norm, leaky ReLU 0.2),
concatenated with noise z ~ N(0, 1) of size 100, mapped by one linear layer to a 4x4 feature
map, and upsampled by stride-2 transposed convolutions (batch norm, ReLU) to the output size;
the last one gives 3 channels through tanh.
"""

import keras
import numpy as np
from keras import layers
from keras import ops

from caption_aug import distribute
from caption_aug import precision
from caption_aug.models.stage2gan import discriminator as discriminator_lib
from caption_aug.models import tracking

TEXT_DIM = 128
NOISE_DIM = 100
UPSAMPLINGS = ("transposed", "resize")


# Batch-norm statistics follow the last ~10 batches (PyTorch's default momentum, the DCGAN
# reference's), not Keras' ~100: a CPU run has a few hundred generator updates, and with 0.99 the
# moving variance was still ~5x the batch variance after 120 of them (initial value 1 against
# the N(0, 0.02)-initialised layers' small activations), so inference-mode samples came out flat
# grey while training-mode ones already drew (pixel std 0.05 against 0.26).
BATCH_NORM_MOMENTUM = 0.9


def _dcgan_init():
    """N(0, 0.02), the DCGAN initialisation: the generator starts near flat grey instead of
    the pixel-level checkerboard noise that Glorot-initialised transposed convs produce."""
    return keras.initializers.RandomNormal(stddev=0.02)


class Stage2Generator(keras.Model):
    """{"text_embedding": [B, embedding_dim], "noise": [B, noise_dim]} -> [B, S, S, 3] in [-1, 1].

    Args:
      image_size: output side (32 or 64, any 4 * 2**k).
      base_channels: channels of the last hidden feature map; each earlier one doubles them.
      upsampling: "transposed" (stride-2 4x4 transposed convs, DCGAN's) or "resize" (nearest
        2x upsampling then a 3x3 conv: no checkerboard artifacts, Odena et al. 2016).
      text_modulation: also condition every upsampling layer on the caption: its normalised
        features scaled and shifted per channel by a linear map of the projected text (FiLM,
        Perez et al. 2018; zero-initialised, so training starts from the plain generator).
    """

    def __init__(self, image_size: int = 64, base_channels: int = 32, embedding_dim: int = 1024,
                 noise_dim: int = NOISE_DIM, upsampling: str = "transposed",
                 text_modulation: bool = False, **kwargs):
        super().__init__(**kwargs)
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"config key gan.generator_upsampling={upsampling!r} is invalid: "
                             f"expected one of {UPSAMPLINGS}")
        self.upsampling = upsampling
        self.image_size = image_size
        self.base_channels = base_channels
        self.embedding_dim = embedding_dim
        self.noise_dim = noise_dim
        self.text_modulation = text_modulation
        upsamplings = discriminator_lib.num_cells(image_size)
        self.top_channels = base_channels * 2**(upsamplings - 1)
        self.text_projection = layers.Dense(TEXT_DIM, kernel_initializer=_dcgan_init(),
                                            name="text_projection")
        self.text_norm = distribute.batch_normalization(momentum=BATCH_NORM_MOMENTUM,
                                                        name="text_norm")
        self.project = layers.Dense(4 * 4 * self.top_channels, use_bias=False,
                                    kernel_initializer=_dcgan_init(), name="project")
        self.project_norm = distribute.batch_normalization(momentum=BATCH_NORM_MOMENTUM,
                                                           name="project_norm")
        channels = [self.top_channels // 2**(k + 1) for k in range(upsamplings - 1)]
        self.upsample_convs = tracking.checkpointed(self, "upsample_conv", [
            self._upsampling_conv(c, f"up{k}", use_bias=False) for k, c in enumerate(channels)])
        self.upsample_norms = tracking.checkpointed(self, "upsample_norm", [
            distribute.batch_normalization(momentum=BATCH_NORM_MOMENTUM, name=f"up{k}_norm")
            for k in range(len(channels))])
        self.modulations = tracking.checkpointed(self, "modulation", [
            layers.Dense(2 * c, kernel_initializer="zeros", name=f"up{k}_modulation")
            for k, c in enumerate(channels)] if text_modulation else [])
        self.to_image = self._upsampling_conv(3, "to_image", use_bias=True)

    def _upsampling_conv(self, channels: int, name: str, use_bias: bool) -> layers.Layer:
        # (a Sequential under "resize": `_upsample` runs it)
        """A layer doubling the resolution, of the configured kind."""
        if self.upsampling == "transposed":
            return layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                          use_bias=use_bias, kernel_initializer=_dcgan_init(),
                                          name=name)
        return keras.Sequential([layers.UpSampling2D(2, interpolation="nearest"),
                                 layers.Conv2D(channels, 3, padding="same", use_bias=use_bias,
                                               kernel_initializer=_dcgan_init())], name=name)

    def call(self, inputs, training=False):
        text = self.text_projection(inputs["text_embedding"])
        text = ops.leaky_relu(self.text_norm(text, training=training), 0.2)
        x = self.project(ops.concatenate([text, inputs["noise"]], axis=-1))
        x = ops.relu(self.project_norm(x, training=training))
        x = ops.reshape(x, [-1, 4, 4, self.top_channels])
        for k, (conv, norm) in enumerate(zip(self.upsample_convs, self.upsample_norms)):
            x = norm(_upsample(conv, x), training=training)
            if self.text_modulation:
                scale, shift = ops.split(self.modulations[k](text)[:, None, None, :], 2, axis=-1)
                x = x * (1.0 + scale) + shift
            x = ops.relu(x)
        return precision.full_precision(ops.tanh(_upsample(self.to_image, x)))

    def build_for(self, batch_size: int = 2) -> None:
        """Creates every variable with one dummy call."""
        self({"text_embedding": np.zeros((batch_size, self.embedding_dim), "float32"),
              "noise": np.zeros((batch_size, self.noise_dim), "float32")})

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size,
                "base_channels": self.base_channels, "embedding_dim": self.embedding_dim,
                "noise_dim": self.noise_dim, "upsampling": self.upsampling,
                "text_modulation": self.text_modulation}


def _upsample(block: layers.Layer, x):
    """A Sequential resize block layer by layer: called whole, a Sequential built under a mixed
    policy casts its input to the half precision it was built in, even while its layers compute
    in float32 (`precision.float32_layers`: stage 4's probes)."""
    if isinstance(block, keras.Sequential):
        if not block.built:  # as its first call would: checkpoints track what building makes
            block.build(x.shape)
        for layer in block.layers:
            x = layer(x)
        return x
    return block(x)
