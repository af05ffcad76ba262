"""Show-Attend-Tell decoder: an LSTM cell fed the previous word's embedding and a gated attention
context, with h0/c0 from linear layers over the mean pixel and a dropout + linear word classifier;
with `coverage`, the attention also sees how much each pixel was attended so far (attention.py);
with `relation_head`, a second attention whose context, and whose centre relative to the first
attention's, the LSTM also reads (the features' last two channels must be PositionChannels' x, y);
with `deep_output`, the word classifier reads the step's gated context beside h (Show-Attend-Tell's
paper's deep output, which its reference implementation leaves out).

The time loop runs in-graph (`tf.scan`, a `tf.while_loop`) over the steps
only: the attention's encoder projection is computed once per image before the loop, and the
dropout + vocabulary projection runs once over all steps after it. Tokens may be int ids [B, T] or
soft one-hot rows [B, T, V] (synthetic captions); soft rows are embedded by a matmul with the
embedding table, so gradients reach whoever produced them.
"""

import keras
import tensorflow as tf
from keras import layers
from keras import ops

from caption_aug import precision
from caption_aug.models.captioner.attention import SoftAttention


def is_soft(tokens) -> bool:
    """Soft (float [..., V]) tokens rather than int ids."""
    return not keras.backend.standardize_dtype(tokens.dtype).startswith(("int", "uint"))


@keras.saving.register_keras_serializable("caption_aug")
class AttentionDecoder(layers.Layer):
    """features [B, P, F] + input tokens [B, T] (or [B, T, V])
    -> word logits [B, T, V], attention [B, T, P].

    Decoding state: a tuple (h, c), then coverage [rows, P] with `coverage`, then the step's gated
    context [rows, F] with `deep_output`; `hidden(state)` is what the word classifier reads (h, or
    h and that context). Beam search keeps the tuple per hypothesis.

    Why the relation head: a relation word ("left of") compares where two objects are. The
    attention's context says where the decoder looks now, but an LSTM trained on caption_shapes
    did not learn to keep an earlier object's position in its memory (a linear probe of h at
    direction words finds neither object's position), so relations stayed at chance. Two
    attentions in one step, each free to find an object by what it looks like, hand the LSTM
    both objects and the vector between them.

    Why the deep output: under supervised attention the decoders looked at the background at its
    tone word ("light", "dark"), the step's gated context held the tone (a linear read: 0.97),
    and yet they wrote one tone whatever the image; the word classifier read h only, which did
    not hold it (0.58). Reading the context as well fixed that in fine-tuning (README, Stage 3)."""

    has_attention = True  # its alphas are the attention maps, penalty and supervision act on

    def __init__(self, vocabulary_size: int, embedding_dim: int, attention_dim: int,
                 decoder_dim: int, dropout: float = 0.5, coverage: bool = False,
                 relation_head: bool = False, deep_output: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.attention_dim = attention_dim
        self.decoder_dim = decoder_dim
        self.dropout_rate = dropout
        self.coverage = coverage
        self.relation_head = relation_head
        self.deep_output = deep_output
        self.relation_attention = (SoftAttention(attention_dim, name="relation_attention")
                                   if relation_head else None)
        self.embedding = layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.attention = SoftAttention(attention_dim, coverage=coverage, name="attention")
        self.init_h = layers.Dense(decoder_dim, name="init_h")
        self.init_c = layers.Dense(decoder_dim, name="init_c")
        self.f_beta = layers.Dense(1, activation="sigmoid", name="f_beta")  # width set in build
        self.lstm = layers.LSTMCell(decoder_dim, name="lstm")
        self.dropout = layers.Dropout(dropout, name="dropout")
        self.word_logits = layers.Dense(vocabulary_size, name="word_logits")

    def build(self, features_shape, tokens_shape=None):
        feature_dim = features_shape[-1]
        hidden = (None, self.decoder_dim)
        self.embedding.build((None, None))
        self.attention.build(features_shape, hidden)
        if self.relation_head:
            self.relation_attention.build(features_shape, hidden)
        self.init_h.build((None, feature_dim))
        self.init_c.build((None, feature_dim))
        self.f_beta.units = feature_dim  # the gate is a vector of the encoder's width
        self.f_beta.build(hidden)
        self.lstm.build((None, self.embedding_dim + feature_dim
                         + (feature_dim + 2) * self.relation_head))
        self.word_logits.build((None, self.decoder_dim + feature_dim * self.deep_output))

    def embed(self, tokens):
        """int ids [B, T] -> [B, T, E]; soft rows [B, T, V] -> [B, T, E] by matmul."""
        if is_soft(tokens):
            return ops.matmul(tokens, self.embedding.embeddings)
        return self.embedding(tokens)

    def initial_state(self, features):
        """(state, projected features) of a batch of images: state (h0, c0[, zero coverage][,
        zero context]), projected features one per attention."""
        mean = ops.mean(features, axis=1)
        state = (self.init_h(mean), self.init_c(mean))
        if self.coverage:
            state += (ops.zeros_like(features[..., 0]),)
        if self.deep_output:
            state += (ops.zeros_like(features[:, 0]),)
        projected = (self.attention.project_features(features),)
        if self.relation_head:
            projected += (self.relation_attention.project_features(features),)
        return state, projected

    def hidden(self, state):
        """What the word classifier reads of a decoding state: the LSTM output h, and with
        `deep_output` the step's gated context after it."""
        return ops.concatenate([state[0], state[-1]], axis=-1) if self.deep_output else state[0]

    def step(self, features, projected_features, word_embedding, state):
        """One decoding step: state -> (state', alpha) given the previous word's embedding.
        The state's tensors and word_embedding hold B*k rows, k consecutive rows per image (k=1 in
        training, the beam in beam search); features [B, P, F] are shared by an image's k rows.
        alpha: [B*k, P]."""
        state, alpha, _ = self._step(features, projected_features, word_embedding, state)
        return state, alpha

    def _step(self, features, projected_features, word_embedding, state):
        """`step`, also returning the relation head's attention [B*k, P] (None without it)."""
        batch, num_pixels = ops.shape(features)[0], ops.shape(features)[1]
        feature_dim = ops.shape(features)[-1]
        h, c = state[:2]
        coverage = (ops.reshape(state[2], (batch, -1, num_pixels)) if self.coverage else None)
        query = ops.reshape(h, (batch, -1, self.decoder_dim))
        context, alpha = self.attention(features, projected_features[0], query, coverage)
        context = ops.reshape(context, (-1, feature_dim))
        alpha = ops.reshape(alpha, (-1, num_pixels))
        gated = self.f_beta(h) * context
        inputs = [word_embedding, gated]
        relation_alpha = None
        if self.relation_head:
            other, relation_alpha = self.relation_attention(features, projected_features[1], query)
            other = ops.reshape(other, (-1, feature_dim))
            relation_alpha = ops.reshape(relation_alpha, (-1, num_pixels))
            # The last two channels are PositionChannels' x, y: the vector between the centres,
            # in grid cells, so that a gate reads its sign without first growing large weights.
            cells = ops.sqrt(ops.cast(num_pixels, context.dtype))
            inputs += [other, (other[:, -2:] - context[:, -2:]) * cells]
        _, (h, c) = self.lstm(ops.concatenate(inputs, axis=-1), [h, c])
        new_state = (h, c) + ((state[2] + alpha,) if self.coverage else ())
        return new_state + ((gated,) if self.deep_output else ()), alpha, relation_alpha

    def start_decoding(self, features, rows_per_image: int, max_length: int):
        """(context, state) for decoding `rows_per_image` rows per image, k consecutive rows an
        image: the context is the features and their projections (shared by an image's rows), the
        state the `initial_state` repeated per row. Any `max_length` will do."""
        state, projected = self.initial_state(features)
        return (features, projected), tuple(ops.repeat(part, rows_per_image, axis=0)
                                            for part in state)

    def decode_step(self, context, last_words, state, t):
        """The word logits [rows, V] after `last_words` [rows], the next state and the attention
        [rows, P]; t (the position) is not needed by a recurrent decoder."""
        features, projected = context
        state, alpha = self.step(features, projected, self.embedding(last_words), state)
        return self.logits(self.hidden(state), training=False), state, alpha

    def logits(self, hidden, training=None):
        """Word logits of hidden states (any leading shape), with dropout in training."""
        return precision.full_precision(self.word_logits(self.dropout(hidden, training=training)))

    def call(self, features, tokens, training=None):
        """-> (logits [B, T, V], alphas [B, T, P], relation head's alphas [B, T, P] or None)."""
        state, projected = self.initial_state(features)
        embedded = ops.transpose(self.embed(tokens), (1, 0, 2))  # time-major for the scan
        no_attention = ops.zeros_like(features[..., 0])

        def body(carry, word_embedding):
            state, alpha, relation_alpha = self._step(features, projected, word_embedding,
                                                      carry[0])
            return (state, alpha) + ((relation_alpha,) if self.relation_head else ())

        outputs = tf.scan(body, embedded, initializer=(state, no_attention)
                          + ((no_attention,) if self.relation_head else ()))
        hiddens = ops.transpose(self.hidden(outputs[0]), (1, 0, 2))
        alphas = [ops.transpose(a, (1, 0, 2)) for a in outputs[1:]]
        return (self.logits(hiddens, training=training), alphas[0],
                alphas[1] if self.relation_head else None)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "attention_dim": self.attention_dim,
                "decoder_dim": self.decoder_dim, "dropout": self.dropout_rate,
                "coverage": self.coverage, "relation_head": self.relation_head,
                "deep_output": self.deep_output}
