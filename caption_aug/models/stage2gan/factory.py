"""The Stage2GAN's three models built together from config: the caption embedding, the
generator (and its moving average) and the discriminator, with their variables created."""

import dataclasses
from typing import Optional

import keras

from caption_aug.models.stage2gan import conditioning as conditioning_lib
from caption_aug.models.stage2gan import discriminator as discriminator_lib
from caption_aug.models.stage2gan import generator as generator_lib


@dataclasses.dataclass
class GanModels:
    """`conditioning.embed(tokens, padding_mask) -> [B, D]` is the caption embedding of both
    networks (ids or one-hots; stage 4 calls it on relaxed captions). `generator_ema`, with
    `gan.ema_decay` > 0, is the exponential moving average of the generator's weights: what the
    GAN stage samples, scores and hands to stage 4."""
    conditioning: object      # conditioning_lib.EncoderConditioning or CaptionConditioning
    generator: generator_lib.Stage2Generator
    discriminator: discriminator_lib.Stage2Discriminator
    generator_ema: Optional[generator_lib.Stage2Generator] = None

    @property
    def sampling_generator(self) -> generator_lib.Stage2Generator:
        return self.generator if self.generator_ema is None else self.generator_ema

    @property
    def text_embedding(self):
        return self.conditioning.embed


def build_models(gan_config, image_size: int, vocabulary_size: int, seed: int,
                 architecture=None, conditioning=None) -> GanModels:
    """The three models with their variables created; `architecture` (op names per edge) gives a
    fixed derived discriminator instead of the supernet; `conditioning` (an EncoderConditioning
    over the trained sentence encoder) replaces the trainable stand-in caption embedding."""
    keras.utils.set_random_seed(seed)
    if conditioning is None:
        conditioning = conditioning_lib.CaptionConditioning(
            vocabulary_size, gan_config.conditioning_token_dim, name="conditioning")
        conditioning.build_for()
    dim = conditioning.embedding_dim

    def generator(name):
        return generator_lib.Stage2Generator(image_size, gan_config.generator_channels,
                                             embedding_dim=dim, noise_dim=gan_config.noise_dim,
                                             upsampling=gan_config.generator_upsampling,
                                             text_modulation=gan_config.generator_text_modulation,
                                             name=name)

    models = GanModels(
        conditioning,
        generator("generator"),
        discriminator_lib.Stage2Discriminator(image_size, gan_config.discriminator_channels,
                                              embedding_dim=dim, architecture=architecture,
                                              seed=seed,
                                              conditioning=gan_config.discriminator_conditioning,
                                              name="discriminator"))
    models.generator.build_for()
    models.discriminator.build_for()
    if gan_config.ema_decay:
        models.generator_ema = generator("generator_ema")
        models.generator_ema.build_for()
        models.generator_ema.set_weights(models.generator.get_weights())
    return models
