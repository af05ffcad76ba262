"""The sentence encoder psi: a joint image/text embedding (Reed et al. 2016) whose text vectors
condition the GAN.

Image side: CNN features, pooled and projected to the embedding size. Text side: shared-tokenizer
token embeddings -> bidirectional recurrent encoder, states averaged over the caption ->
projection to `embedding_dim` (1024).
Both sides are L2-normalised, so the GAN always sees text vectors of the same scale. Text may come
as int token ids [B, T] or as (relaxed) one-hots [B, T, V]: the embedding is then a matmul, so
gradients from stage 4 flow back into the one-hots. Trained with a symmetric batch-contrastive
loss (Reed et al.'s eq. 2 with a softmax surrogate).
"""

import keras
import tensorflow as tf
from keras import layers

from caption_aug import distribute
from caption_aug import precision

IMAGE_BACKBONES = ("small_cnn", "MobileNetV2", "ResNet50", "EfficientNetB0")


@keras.saving.register_keras_serializable("caption_aug")
class TokenEmbedding(layers.Layer):
    """Token embedding that takes int ids [B, T] (a lookup) or float one-hots [B, T, V] (a matmul).

    Hand-written because keras.layers.Embedding accepts only integer ids.
    """

    def __init__(self, vocabulary_size: int, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.output_dim = output_dim
        # Unit scale: from Keras' default +-0.05 the recurrent encoder hardly learns at first.
        self.embeddings = self.add_weight(
            shape=(vocabulary_size, output_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0), name="embeddings")

    def call(self, tokens):
        if tokens.dtype.is_integer:
            return tf.gather(self.embeddings, tokens)
        return tf.einsum("btv,vd->btd", tf.cast(tokens, self.compute_dtype), self.embeddings)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "output_dim": self.output_dim}


def _image_features(backbone: str, image_size: int, weights: str) -> keras.Model:
    """CNN feature extractor [B, S, S, 3] -> [B, C]: a small CNN from scratch (the CPU default) or a
    keras.applications model, with `weights` "" (random), "imagenet" or a local weights file
    (batch norm over the global batch under a strategy of several replicas)."""
    inputs = keras.Input([image_size, image_size, 3])
    if backbone == "small_cnn":
        x = inputs
        for filters in (32, 64, 128, 256):
            x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
            # momentum 0.9: short runs, statistics settle fast; global-batch statistics under a
            # strategy of several replicas
            x = distribute.batch_normalization(momentum=0.9)(x)
            x = layers.ReLU()(x)
        return keras.Model(inputs, layers.GlobalAveragePooling2D()(x), name="small_cnn")
    if backbone not in IMAGE_BACKBONES:
        raise ValueError(f"config key encoder.image_backbone={backbone!r} is invalid: "
                         f"expected one of {IMAGE_BACKBONES}")
    application = getattr(keras.applications, backbone)
    model = application(include_top=False, pooling="avg", input_shape=(image_size, image_size, 3),
                        weights="imagenet" if weights == "imagenet" else None)
    if weights and weights != "imagenet":
        model.load_weights(weights)
    return distribute.synchronize_batch_norms(model)


@keras.saving.register_keras_serializable("caption_aug")
class SentenceEncoder(keras.Model):
    """psi: `call({"image"?, "token_ids"?, "padding_mask"?})` -> {"image_embedding"?,
    "text_embedding"?}, each [B, embedding_dim] and unit-norm; either side may be left out, so
    `stateless_call` works on text alone (stage 4) or on images alone."""

    def __init__(self, vocabulary_size: int, image_size: int, embedding_dim: int = 1024,
                 token_embedding_dim: int = 128, rnn_units: int = 256, rnn: str = "gru",
                 image_backbone: str = "small_cnn", image_weights: str = "", **kwargs):
        super().__init__(**kwargs)
        if rnn not in ("gru", "lstm"):
            raise ValueError(f"config key encoder.rnn={rnn!r} is invalid: expected gru or lstm")
        self.vocabulary_size = vocabulary_size
        self.image_size = image_size
        self.embedding_dim = embedding_dim
        self.token_embedding_dim = token_embedding_dim
        self.rnn_units = rnn_units
        self.rnn = rnn
        self.image_backbone = image_backbone
        self.image_weights = image_weights
        self.token_embedding = TokenEmbedding(vocabulary_size, token_embedding_dim,
                                              name="token_embedding")
        cell = layers.GRU if rnn == "gru" else layers.LSTM
        self.text_rnn = layers.Bidirectional(cell(rnn_units, return_sequences=True),
                                             name="text_rnn")
        self.text_projection = layers.Dense(embedding_dim, name="text_projection")
        self.image_features = _image_features(image_backbone, image_size, image_weights)
        self.image_projection = layers.Dense(embedding_dim, name="image_projection")
        self.build_both(image_size)

    def build_both(self, image_size: int) -> None:
        """Creates every weight now, so checkpoints restore and `stateless_call` sees them all."""
        self({"image": tf.zeros([1, image_size, image_size, 3]),
              "token_ids": tf.zeros([1, 2], tf.int32), "padding_mask": tf.ones([1, 2], tf.bool)})

    def embed_text(self, tokens, padding_mask, training: bool = False):
        """Unit-norm text embeddings [B, D] of int ids [B, T] or one-hots [B, T, V]: the recurrent
        states averaged over the caption's tokens (as Reed et al.'s char-CNN-RNN averages its
        hidden units; it also learns far faster than the last state alone), then projected."""
        mask = tf.cast(padding_mask, tf.bool)
        states = self.text_rnn(self.token_embedding(tokens), mask=mask, training=training)
        weights = tf.cast(mask, states.dtype)[..., None]
        pooled = tf.reduce_sum(states * weights, axis=1) / tf.maximum(
            tf.reduce_sum(weights, axis=1), 1.0)
        return tf.math.l2_normalize(self.text_projection(pooled), axis=-1)

    def embed_image(self, images, training: bool = False):
        """Unit-norm image embeddings [B, D]."""
        features = self.image_features(images, training=training)
        return tf.math.l2_normalize(self.image_projection(features), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "image_size": self.image_size, "embedding_dim": self.embedding_dim,
                "token_embedding_dim": self.token_embedding_dim, "rnn_units": self.rnn_units,
                "rnn": self.rnn, "image_backbone": self.image_backbone,
                "image_weights": self.image_weights}

    def call(self, inputs, training=False):
        outputs = {}
        if "image" in inputs:
            outputs["image_embedding"] = self.embed_image(inputs["image"], training)
        if "token_ids" in inputs:
            outputs["text_embedding"] = self.embed_text(
                inputs["token_ids"], inputs["padding_mask"], training)
        return outputs


def build_sentence_encoder(encoder_config, vocabulary_size: int,
                           image_size: int) -> SentenceEncoder:
    """The encoder sized by `config.encoder` over the shared tokenizer's vocabulary."""
    return SentenceEncoder(
        vocabulary_size, image_size, embedding_dim=encoder_config.embedding_dim,
        token_embedding_dim=encoder_config.token_embedding_dim, rnn_units=encoder_config.rnn_units,
        rnn=encoder_config.rnn, image_backbone=encoder_config.image_backbone,
        image_weights=encoder_config.image_weights, name="sentence_encoder")


def contrastive_loss(image_embeddings, text_embeddings, image_index, temperature: float):
    """Symmetric batch-contrastive loss: each image should pick its caption among the batch's
    captions and each caption its image (softmax over the batch, scaled cosine similarities).

    The class of pair k is k, as in the paper; a batch holding several captions of one image
    treats all of them as correct (uniform target over the matches), so duplicates are not
    pushed apart. Cross-entropy is written as -sum(p * log_softmax) (second-order safe).
    """
    logits = tf.matmul(precision.full_precision(image_embeddings),
                       precision.full_precision(text_embeddings), transpose_b=True) / temperature
    same = tf.cast(tf.equal(image_index[:, None], image_index[None, :]), logits.dtype)
    targets = same / tf.reduce_sum(same, axis=1, keepdims=True)
    image_to_text = -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=1), axis=1)
    text_to_image = -tf.reduce_sum(targets * tf.nn.log_softmax(logits, axis=0), axis=0)
    return 0.5 * (tf.reduce_mean(image_to_text) + tf.reduce_mean(text_to_image))
