"""Soft (deterministic) attention of Show-Attend-Tell: score_p = w . tanh(W_e f_p + W_d h + b),
alpha = softmax over the pixels p, context = sum_p alpha_p f_p; optionally with coverage.

The encoder term W_e f_p does not depend on the decoding step, so `project_features` computes it
once per image; the reference recomputes it at every step (the [P, F] x [F, A] matmul dominates
its decoding time).

Coverage (Tu et al. 2016, "Modeling Coverage for Neural Machine Translation"; the input of See et
al. 2017's coverage, without its loss) adds W_c cov_p to the score's argument, where cov_p is the
attention that pixel p has received at the caption's earlier words: the decoder then knows which
objects it has already described. Show-Attend-Tell's h alone does not carry that reliably: a
caption_shapes captioner named one object twice in 0.31 of its test captions, its attention back
on the object it had described (README, Stage 3). No loss pushes coverage down, so a word that
legitimately refers back ("the red box") can still attend an object again.
"""

import keras
from keras import layers
from keras import ops


@keras.saving.register_keras_serializable("caption_aug")
class SoftAttention(layers.Layer):
    """Three linear layers (encoder projection, decoder projection, scoring), and a fourth for the
    coverage when `coverage` is True; softmax over pixels."""

    def __init__(self, attention_dim: int, coverage: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.attention_dim = attention_dim
        self.coverage = coverage
        self.encoder_projection = layers.Dense(attention_dim, name="encoder_projection")
        self.decoder_projection = layers.Dense(attention_dim, name="decoder_projection")
        self.coverage_projection = (layers.Dense(attention_dim, use_bias=False,
                                                 name="coverage_projection") if coverage else None)
        self.score = layers.Dense(1, name="score")

    def build(self, features_shape, hidden_shape):
        self.encoder_projection.build(features_shape)
        self.decoder_projection.build(hidden_shape)
        if self.coverage:
            self.coverage_projection.build((None, 1))
        self.score.build(tuple(features_shape[:-1]) + (self.attention_dim,))

    def project_features(self, features):
        """[B, P, F] -> [B, P, A]: the per-image half of the score, computed once."""
        return self.encoder_projection(features)

    def call(self, features, projected_features, hidden, coverage=None):
        """features [B, P, F], their projection [B, P, A], hidden [B, k, H] (k hypotheses per
        image: 1 in training, the beam in beam search), coverage [B, k, P] (each hypothesis's
        attention summed over its earlier words; needed when built with coverage)
        -> context [B, k, F], alpha [B, k, P].
        The k hypotheses share their image's features: nothing is copied per beam."""
        query = ops.expand_dims(self.decoder_projection(hidden), 2)           # [B, k, 1, A]
        argument = ops.expand_dims(projected_features, 1) + query              # [B, k, P, A]
        if self.coverage:
            argument = argument + self.coverage_projection(ops.expand_dims(coverage, -1))
        energy = ops.tanh(argument)
        alpha = ops.softmax(ops.squeeze(self.score(energy), -1), axis=-1)      # [B, k, P]
        context = ops.einsum("bkp,bpf->bkf", alpha, features)
        return context, alpha

    def get_config(self):
        return {**super().get_config(), "attention_dim": self.attention_dim,
                "coverage": self.coverage}
