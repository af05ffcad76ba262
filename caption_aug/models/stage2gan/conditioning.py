"""A trainable caption embedding that conditions the GAN until the sentence encoder (issue 4) lands.

Mean-pooled token embeddings of the shared tokenizer's ids, projected to 1024: the same
`embed(token_ids, padding_mask) -> [B, 1024]` interface the sentence encoder offers, so either
can condition the generator and discriminator.
"""

import keras
import numpy as np
from keras import layers
from keras import ops

EMBEDDING_DIM = 1024


class CaptionConditioning(keras.Model):
    """{"token_ids": int [B, T], "padding_mask": bool [B, T]} -> [B, embedding_dim]."""

    def __init__(self, vocabulary_size: int, token_dim: int = 64,
                 embedding_dim: int = EMBEDDING_DIM, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.token_dim = token_dim
        self.embedding_dim = embedding_dim
        self.token_embedding = layers.Embedding(vocabulary_size, token_dim, name="token_embedding")
        self.project = layers.Dense(embedding_dim, name="project")

    def call(self, inputs):
        vectors = self.token_embedding(inputs["token_ids"])
        mask = ops.cast(inputs["padding_mask"], vectors.dtype)[..., None]
        pooled = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return self.project(pooled)

    def embed(self, token_ids, padding_mask):
        """The caption embedding [B, embedding_dim]."""
        return self({"token_ids": token_ids, "padding_mask": padding_mask})

    def build_for(self, length: int = 4) -> None:
        """Creates every variable with one dummy call."""
        self.embed(np.zeros((1, length), "int32"), np.ones((1, length), bool))

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "token_dim": self.token_dim, "embedding_dim": self.embedding_dim}
