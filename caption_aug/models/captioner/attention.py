"""Soft (deterministic) attention of Show-Attend-Tell: score_p = w . tanh(W_e f_p + W_d h) + b,
alpha = softmax over the pixels p, context = sum_p alpha_p f_p.

The encoder term W_e f_p does not depend on the decoding step, so `project_features` computes it
once per image; the reference recomputes it at every step (the [P, F] x [F, A] matmul dominates
its decoding time).
"""

import keras
from keras import layers
from keras import ops


@keras.saving.register_keras_serializable("caption_aug")
class SoftAttention(layers.Layer):
    """Three linear layers (encoder projection, decoder projection, scoring), softmax over pixels."""

    def __init__(self, attention_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.attention_dim = attention_dim
        self.encoder_projection = layers.Dense(attention_dim, name="encoder_projection")
        self.decoder_projection = layers.Dense(attention_dim, name="decoder_projection")
        self.score = layers.Dense(1, name="score")

    def build(self, features_shape, hidden_shape):
        self.encoder_projection.build(features_shape)
        self.decoder_projection.build(hidden_shape)
        self.score.build(tuple(features_shape[:-1]) + (self.attention_dim,))

    def project_features(self, features):
        """[B, P, F] -> [B, P, A]: the per-image half of the score, computed once."""
        return self.encoder_projection(features)

    def call(self, features, projected_features, hidden):
        """features [B, P, F], their projection [B, P, A], hidden [B, k, H] (k hypotheses per
        image: 1 in training, the beam in beam search) -> context [B, k, F], alpha [B, k, P].
        The k hypotheses share their image's features: nothing is copied per beam."""
        query = ops.expand_dims(self.decoder_projection(hidden), 2)           # [B, k, 1, A]
        energy = ops.tanh(ops.expand_dims(projected_features, 1) + query)      # [B, k, P, A]
        alpha = ops.softmax(ops.squeeze(self.score(energy), -1), axis=-1)      # [B, k, P]
        context = ops.einsum("bkp,bpf->bkf", alpha, features)
        return context, alpha

    def get_config(self):
        return {**super().get_config(), "attention_dim": self.attention_dim}
