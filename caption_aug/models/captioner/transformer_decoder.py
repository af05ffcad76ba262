"""A transformer caption decoder from keras-hub layers, beside Show-Attend-Tell's LSTM decoder.

Token embeddings plus learnt positions (`keras_hub.layers.PositionEmbedding`), then
`keras_hub.layers.TransformerDecoder` blocks (pre-norm) with causal self-attention over the words
and cross-attention over the encoder's pixel grid, projected to the model width and given a learnt
position per pixel; a final layer norm and a linear word classifier. Soft one-hot tokens [B, T, V]
are embedded by a matmul with the token table, so gradients reach whoever produced them (stage 4's
LM). Decoding keeps keras-hub's key/value caches: the self-attention cache per layer is the
per-row decoding state that beam search reorders, the cross-attention cache is computed once per
image. It has no attention weights to show (keras-hub's blocks do not return them), so it
returns none, and the attention penalty, attention supervision and attention maps do not apply.
"""

import keras
import keras_hub
from keras import layers
from keras import ops

from caption_aug import precision
from caption_aug.models import tracking
from caption_aug.models.captioner.decoder import is_soft


@keras.saving.register_keras_serializable("caption_aug")
class TransformerCaptionDecoder(layers.Layer):
    """features [B, P, F] + input tokens [B, T] (or [B, T, V]) -> word logits [B, T, V]
    (and no attention). `max_length` bounds the positions: the teacher-forced inputs' length and
    the decoded captions' length."""

    has_attention = False

    def __init__(self, vocabulary_size: int, hidden_dim: int, num_layers: int, num_heads: int,
                 intermediate_dim: int, max_length: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim {hidden_dim} is not a multiple of num_heads {num_heads}")
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.max_length = max_length
        self.dropout_rate = dropout
        self.embedding = layers.Embedding(vocabulary_size, hidden_dim, name="embedding")
        self.positions = keras_hub.layers.PositionEmbedding(max_length, name="positions")
        self.embedding_dropout = layers.Dropout(dropout, name="embedding_dropout")
        self.memory_projection = layers.Dense(hidden_dim, name="memory_projection")
        self.blocks = tracking.checkpointed(self, "block", [keras_hub.layers.TransformerDecoder(
            intermediate_dim, num_heads, dropout=dropout, activation="gelu", normalize_first=True,
            name=f"block_{i}") for i in range(num_layers)])
        self.final_norm = layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.word_logits = layers.Dense(vocabulary_size, name="word_logits")

    def build(self, features_shape, tokens_shape=None):
        num_pixels = features_shape[1]
        self.pixel_positions = keras_hub.layers.PositionEmbedding(num_pixels,
                                                                  name="pixel_positions")
        self.embedding.build((None, None))
        self.positions.build((None, None, self.hidden_dim))
        self.memory_projection.build(features_shape)
        memory_shape = (None, num_pixels, self.hidden_dim)
        self.pixel_positions.build(memory_shape)
        for block in self.blocks:
            block.build((None, None, self.hidden_dim), memory_shape)
        self.final_norm.build((None, None, self.hidden_dim))
        self.word_logits.build((None, self.hidden_dim))

    def memory(self, features):
        """The pixels as the blocks cross-attend to them: [B, P, hidden_dim]."""
        projected = self.memory_projection(features)
        return projected + self.pixel_positions(projected)

    def embed(self, tokens, start_index=0, training=None):
        """int ids [B, T] or soft rows [B, T, V] at positions start_index.. -> [B, T, hidden]."""
        if is_soft(tokens):
            words = ops.matmul(tokens, self.embedding.embeddings)
        else:
            words = self.embedding(tokens)
        words = words + self.positions(words, start_index=start_index)
        return self.embedding_dropout(words, training=training)

    def logits(self, hidden):
        return precision.full_precision(self.word_logits(self.final_norm(hidden)))

    def call(self, features, tokens, training=None):
        """-> (logits [B, T, V], None, None): the LSTM decoder's triple, without attention."""
        memory = self.memory(features)
        x = self.embed(tokens, training=training)
        for block in self.blocks:  # causal: padding after the end token is never attended to
            x = block(x, encoder_sequence=memory, training=training)
        return self.logits(x), None, None

    def start_decoding(self, features, rows_per_image: int, max_length: int):
        """(context, state) for decoding `rows_per_image` rows per image, k consecutive rows an
        image: the context holds each row's memory and cross-attention caches (computed once),
        the state each block's empty self-attention cache [B*k, 2, max_length, heads, head_dim]."""
        memory = ops.repeat(self.memory(features), rows_per_image, axis=0)
        rows, num_pixels = ops.shape(memory)[0], ops.shape(memory)[1]
        head_dim = self.hidden_dim // self.num_heads
        empty = ops.zeros((rows, 2, max_length, self.num_heads, head_dim), memory.dtype)
        probe = ops.zeros((rows, 1, self.hidden_dim), memory.dtype)
        cross_caches = []
        for block in self.blocks:  # a cross cache depends on the memory only: any query fills it
            _, _, cross = block(
                probe, encoder_sequence=memory, self_attention_cache=empty,
                self_attention_cache_update_index=0,
                cross_attention_cache=ops.zeros((rows, 2, num_pixels, self.num_heads, head_dim),
                                                memory.dtype),
                cross_attention_cache_update_index=0, training=False)
            cross_caches.append(cross)
        return (memory, tuple(cross_caches)), (empty,) * len(self.blocks)

    def decode_step(self, context, last_words, state, t):
        """The word logits [rows, V] after `last_words` [rows] at position t, the next state, and
        no attention ([rows, 0])."""
        memory, cross_caches = context
        x = self.embed(ops.expand_dims(last_words, 1), start_index=t, training=False)
        new_state = []
        for block, cache, cross in zip(self.blocks, state, cross_caches):
            x, cache, _ = block(x, encoder_sequence=memory, self_attention_cache=cache,
                                self_attention_cache_update_index=t, cross_attention_cache=cross,
                                cross_attention_cache_update_index=None, training=False)
            new_state.append(cache)
        return self.logits(x[:, 0]), tuple(new_state), ops.zeros((ops.shape(x)[0], 0))

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
                "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "max_length": self.max_length, "dropout": self.dropout_rate}
