"""The captioner as one Keras 3 model: encoder (CNN -> pixels) + a caption decoder, Show-Attend-
Tell's LSTM with attention (`captioner.decoder="lstm_attention"`) or a transformer
(`"transformer"`).

This model is the captioner interface the trainer, stage 4, the hypergradient, evaluation and
export use, and nothing else of it: `build_captioner(config.captioner, ...)`; the training forward
`model({"image": ..., "tokens": ...}, training=...)`, tokens int ids [B, T] or soft rows [B, T, V],
-> word logits (+ attention weights where the decoder has them); it works with
`model.stateless_call(trainable, non_trainable, inputs, training=...)`, which stage 4 uses to probe
perturbed weights; `generate` decodes images with the batched beam search, which needs of the
decoder only `start_decoding` and `decode_step` (docs/DESIGN.md, "The captioner interface").
`model.encoder` and `model.decoder` split the weights for the two learning rates.
"""

import keras
import tensorflow as tf

from caption_aug.models.captioner import beam_search as beam_search_lib
from caption_aug.models.captioner.decoder import AttentionDecoder
from caption_aug.models.captioner.encoder import build_encoder
from caption_aug.models.captioner.transformer_decoder import TransformerCaptionDecoder


@keras.saving.register_keras_serializable("caption_aug")
class Captioner(keras.Model):
    """{"image" [B, S, S, 3], "tokens" [B, T] | [B, T, V]}
    -> {"logits" [B, T, V]}, with "alphas" [B, T, P] where the decoder has attention and
    "relation_alphas" [B, T, P] with the LSTM decoder's relation head."""

    def __init__(self, encoder: keras.Model, decoder: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder

    def build(self, input_shape=None):
        if not self.decoder.built:  # a deserialised decoder comes built
            self.decoder.build(self.encoder.output.shape)
        self.built = True

    def build_from_config(self, config):
        """Deserialisation builds it as `build_captioner` does (the shapes are the encoder's)."""
        self.build()

    def call(self, inputs, training=None):
        features = self.encoder(inputs["image"], training=training)
        logits, alphas, relation_alphas = self.decoder(features, inputs["tokens"],
                                                       training=training)
        outputs = {"logits": logits}
        if alphas is not None:
            outputs["alphas"] = alphas
        if relation_alphas is not None:
            outputs["relation_alphas"] = relation_alphas
        return outputs

    def get_config(self):
        return {**super().get_config(),
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)

    def generate(self, images, beam_size: int, max_length: int, start_id: int, end_id: int,
                 pad_id: int) -> beam_search_lib.BeamSearchResult:
        """Captions (token ids, log-probs, attention) of a batch of images by beam search."""
        features = self.encoder(images, training=False)
        return beam_search_lib.beam_search(self.decoder, features, beam_size, max_length,
                                           start_id, end_id, pad_id,
                                           banned_ids=_banned(start_id, end_id, pad_id))


def _banned(start_id: int, end_id: int, pad_id: int) -> tuple:
    """Ids a caption may never contain: padding, and the start token when it differs from end."""
    return tuple(sorted({pad_id, start_id} - {end_id}))


def build_captioner(cfg, vocabulary_size: int, image_size: int) -> Captioner:
    """A built Captioner from `config.captioner` (weights created, so it can be stateless_call'ed)."""
    encoder = build_encoder(
        cfg.backbone, image_size, cfg.encoded_size, weights=cfg.weights or None,
        fine_tune_stages=tuple(cfg.fine_tune_stages), small_cnn_filters=tuple(cfg.small_cnn_filters),
        small_cnn_stem=cfg.small_cnn_stem, small_cnn_convs_per_block=cfg.small_cnn_convs_per_block,
        small_cnn_residual=cfg.small_cnn_residual, feature_dim=cfg.feature_dim,
        position_channels=cfg.position_channels)
    if cfg.decoder == "transformer":
        t = cfg.transformer
        decoder = TransformerCaptionDecoder(vocabulary_size, t.hidden_dim, t.num_layers,
                                            t.num_heads, t.intermediate_dim, t.max_length,
                                            t.dropout, name="decoder")
    else:
        decoder = AttentionDecoder(vocabulary_size, cfg.embedding_dim, cfg.attention_dim,
                                   cfg.decoder_dim, cfg.dropout, coverage=cfg.attention_coverage,
                                   relation_head=cfg.relation_head, deep_output=cfg.deep_output,
                                   name="decoder")
    model = Captioner(encoder, decoder, name="captioner")
    model.build()
    return model


def detokenize(keras_tokenizer, result: beam_search_lib.BeamSearchResult) -> tf.Tensor:
    """Caption strings [B] of a beam search result, in TensorFlow ops (usable in a SavedModel)."""
    words = tf.ragged.boolean_mask(result.tokens, result.word_mask)
    return tf.strings.strip(keras_tokenizer.detokenize(words))
