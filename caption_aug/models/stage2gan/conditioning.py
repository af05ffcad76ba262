"""The caption embeddings that condition the GAN; both offer `embed(tokens, padding_mask) -> [B, D]`.

`tokens` are int ids [B, T] or float one-hots [B, T, V] (relaxed captions in stage 4, which
differentiates through the embedding into the one-hots); `embed` runs inside a tf.function.

- `EncoderConditioning` (`gan.conditioning = "encoder"`, the issue's design): the frozen trained
  sentence encoder's text embedding, as Reed et al. condition on a pretrained text encoder.
- `CaptionConditioning` (`"trainable"`): a stand-in trained only by the discriminator's loss,
  for runs without a trained encoder.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from keras import ops

from caption_aug import distribute
from caption_aug.data import pipelines
from caption_aug.models import sentence_encoder

EMBEDDING_DIM = 1024


class CaptionConditioning(keras.Model):
    """Mean-pooled token vectors of the shared tokenizer, projected to `embedding_dim`."""

    def __init__(self, vocabulary_size: int, token_dim: int = 64,
                 embedding_dim: int = EMBEDDING_DIM, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.token_dim = token_dim
        self.embedding_dim = embedding_dim
        self.token_embedding = sentence_encoder.TokenEmbedding(vocabulary_size, token_dim,
                                                               name="token_embedding")
        self.project = layers.Dense(embedding_dim, name="project")

    def call(self, inputs):
        vectors = self.token_embedding(inputs["tokens"])
        mask = ops.cast(inputs["padding_mask"], vectors.dtype)[..., None]
        pooled = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return self.project(pooled)

    def embed(self, tokens, padding_mask):
        """The caption embedding [B, embedding_dim] of ids [B, T] or one-hots [B, T, V]."""
        return self({"tokens": tokens, "padding_mask": padding_mask})

    def build_for(self, length: int = 4) -> None:
        """Creates every variable with one dummy call."""
        self.embed(np.zeros((1, length), "int32"), np.ones((1, length), bool))

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "token_dim": self.token_dim, "embedding_dim": self.embedding_dim}


class EncoderConditioning:
    """The frozen sentence encoder's unit-norm text embedding, times sqrt(D): its components then
    have unit scale like the noise beside them (a unit 1024-d vector has components of ~0.03).

    Not a keras.Model: it holds no weights of its own, and its encoder stays out of the GAN's
    checkpoint and optimisers (`trainable_variables` is empty).
    """

    def __init__(self, encoder: sentence_encoder.SentenceEncoder, image_size: int,
                 image_normalization: str):
        self.encoder = encoder
        self.encoder.trainable = False
        self.embedding_dim = encoder.embedding_dim
        self.scale = float(np.sqrt(self.embedding_dim))
        self.image_size = image_size
        self.image_normalization = image_normalization
        self.trainable_variables = []

    def embed(self, tokens, padding_mask):
        """The caption embedding [B, embedding_dim] of ids [B, T] or one-hots [B, T, V]."""
        return self.encoder.embed_text(tokens, padding_mask) * self.scale

    def matching_loss(self, images, embedding, image_index, temperature: float):
        """Image-text matching of generated images (AttnGAN's sentence-level DAMSM idea): the
        encoder's batch-contrastive loss between its embedding of `images` (in [-1, 1], any size)
        and the captions' `embedding` (from `embed`). Through the frozen encoder's image side it
        gives the generator a gradient towards what the caption says, which the discriminator's
        one real/fake logit gives only faintly. `image_index` marks captions of one real image."""
        if images.shape[1] != self.image_size:
            images = tf.image.resize(images, [self.image_size, self.image_size], "bilinear")
        images = pipelines.normalize_unit_images((images + 1.0) * 0.5, self.image_normalization)
        # under a strategy, over the global batch as on one device (see encoder_trainer; the
        # int32 indices, kept on the host, gather apart from the embeddings)
        image_embedding, text_embedding = distribute.gather_batch(
            (self.encoder.embed_image(images), embedding / self.scale))
        return distribute.share_of_global(sentence_encoder.contrastive_loss(
            image_embedding, text_embedding, distribute.gather_batch(image_index), temperature))


def random_offsets(generator: tf.random.Generator, batch_size, max_shift: int):
    """Per-image offsets [B, 2] in [0, 2 * max_shift] for `translate`, drawn from `generator`."""
    return generator.uniform([batch_size, 2], 0, 2 * max_shift + 1, tf.int32)


def translate(images, offsets, max_shift: int):
    """Each image [S, S, C] of `images` moved by (offset - max_shift) pixels per axis (offsets from
    `random_offsets`), edges reflected. The matching loss scores such shifted views (as CLIP
    guidance scores augmented ones), so the generator cannot satisfy the frozen image side with
    patterns that work at one pixel alignment only (README, Stage 2). Hand-written: tf.image's
    random crop takes one offset for the whole batch."""
    size = images.shape[1]
    padded = tf.pad(images, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]],
                    mode="REFLECT")
    rows = offsets[:, 0:1] + tf.range(size)[None, :]
    columns = offsets[:, 1:2] + tf.range(size)[None, :]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, columns, axis=2, batch_dims=1)
