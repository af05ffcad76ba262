"""Batched beam search over a whole batch of images, in graph (one `tf.while_loop`).

The reference decodes one image at a time in Python and crashes when no beam emits the end token
within the step limit. Here all B x k beams advance together with the reference's semantics: at
each step the best k continuations of the live beams are ranked; those ending in the end token
leave the beam as finished captions (the image then keeps fewer live beams, as the reference's
shrinking k), the others stay live. The loop stops when no image has a live beam that could still
beat its best finished caption (scores only fall), or after `max_length` steps. Each image gets
its best finished caption, or its best live one when none finished: there is always a caption.
k=1 is greedy. Scores are summed log-probabilities without length normalisation, as in the
reference. The search knows the decoder only through `start_decoding` and `decode_step`
(docs/DESIGN.md, "The captioner interface"): the LSTM decoder shares an image's features between
its beams, the transformer keeps a key/value cache per beam.
"""

from typing import NamedTuple, Sequence

import tensorflow as tf

_NEG = -1e9  # a "forbidden" log-probability that stays finite (no inf - inf under XLA)


class BeamSearchResult(NamedTuple):
    """tokens [B, L] int32 (the caption's words, then end_id if emitted, then pad_id);
    word_mask [B, L] (True on the caption's words); log_probs [B] (sum over emitted tokens,
    the end token included); finished [B] (the end token was emitted); alphas [B, L, P]
    (attention at each emitted token, zeros after)."""
    tokens: tf.Tensor
    word_mask: tf.Tensor
    log_probs: tf.Tensor
    finished: tf.Tensor
    alphas: tf.Tensor


def beam_search(decoder, features, beam_size: int, max_length: int, start_id: int, end_id: int,
                pad_id: int, banned_ids: Sequence[int] = ()) -> BeamSearchResult:
    """Decodes features [B, P, F] with `decoder` (a caption decoder: `start_decoding`,
    `decode_step`, `vocabulary_size`, `has_attention`; docs/DESIGN.md) for at most `max_length`
    tokens. `banned_ids` (e.g. the pad id) are never emitted. Without attention the alphas are
    [B, L, 0]."""
    k = beam_size
    vocab = decoder.vocabulary_size
    if not 1 <= k <= vocab - len(banned_ids):
        raise ValueError(f"beam size {k} must be between 1 and the number of allowed words")
    features = tf.convert_to_tensor(features)
    # Static sizes where known, so that the loop's tensors keep one shape across iterations.
    batch = features.shape[0] if features.shape[0] is not None else tf.shape(features)[0]
    num_pixels = features.shape[1] if features.shape[1] is not None else tf.shape(features)[1]
    num_pixels = num_pixels if decoder.has_attention else 0
    context, decoder_state = decoder.start_decoding(features, k, max_length)  # k rows an image

    banned = tf.scatter_nd([[i] for i in banned_ids], tf.fill([len(banned_ids)], _NEG), [vocab]) \
        if banned_ids else tf.zeros([vocab])
    rank = tf.range(k)[None]                                          # [1, k]
    state = dict(
        t=tf.constant(0), decoder_state=decoder_state,
        # k live beams; all but one start at a forbidden score, so the first step ranks the
        # k best first words of the one real beam (as the reference's first step does).
        scores=tf.tile(tf.where(rank == 0, 0.0, _NEG), [batch, 1]),  # [B, k]
        alive=tf.ones([batch, k], tf.bool),
        last=tf.fill([batch * k], start_id),
        tokens=tf.fill([batch, k, max_length], pad_id),
        alphas=tf.zeros([batch, k, max_length, num_pixels]),
        best_score=tf.fill([batch], _NEG),                            # best finished caption
        best_tokens=tf.fill([batch, max_length], pad_id),
        best_alphas=tf.zeros([batch, max_length, num_pixels]),
        best_words=tf.zeros([batch], tf.int32))

    def not_done(s):
        best_live = tf.reduce_max(tf.where(s["alive"], s["scores"], 2 * _NEG), axis=1)
        hopeful = tf.reduce_any(best_live > s["best_score"])  # can a live beam still win?
        return tf.logical_and(s["t"] < max_length, hopeful)

    def advance(s):
        t = s["t"]
        logits, decoder_state, alpha = decoder.decode_step(context, s["last"], s["decoder_state"],
                                                           t)                # [B*k, V]
        # Two-stage top-k: the k best words of each beam, then the k best of those k*k
        # candidates per image (the global best k are always among them); the full B x k*V
        # candidate matrix is never built.
        log_norm = tf.reduce_logsumexp(logits, axis=-1, keepdims=True)
        top_logits, top_words = tf.math.top_k(logits + banned, k)          # [B*k, k]
        log_probs = tf.reshape(top_logits - log_norm, [batch, k, k])
        candidates = tf.where(s["alive"][..., None], s["scores"][..., None] + log_probs, 2 * _NEG)
        scores, flat = tf.math.top_k(tf.reshape(candidates, [batch, k * k]), k)
        parent = flat // k                                                  # [B, k]
        word = tf.gather(tf.reshape(top_words, [batch, k * k]), flat, batch_dims=1)
        # As the reference's shrinking beam: an image with n live beams keeps its n best.
        kept = rank < tf.reduce_sum(tf.cast(s["alive"], tf.int32), axis=1, keepdims=True)
        ends = kept & tf.equal(word, end_id)
        alive = kept & tf.logical_not(ends)

        rows = tf.reshape(parent + tf.range(batch)[:, None] * k, [-1])     # into [B*k]
        at_t = tf.one_hot(t, max_length, on_value=True, off_value=False, dtype=tf.bool)
        tokens = tf.where(at_t, word[..., None], tf.gather(s["tokens"], parent, batch_dims=1))
        alpha = tf.reshape(tf.cast(tf.gather(alpha, rows), tf.float32), [batch, k, 1, num_pixels])
        alphas = tf.where(at_t[:, None], alpha, tf.gather(s["alphas"], parent, batch_dims=1))

        # The best caption finishing now replaces the image's best finished one if it beats it.
        ending_scores = tf.where(ends, scores, 2 * _NEG)
        ending = tf.argmax(ending_scores, axis=1, output_type=tf.int32)
        ending_score = tf.reduce_max(ending_scores, axis=1)
        better = ending_score > s["best_score"]
        return dict(
            t=t + 1, decoder_state=tuple(tf.gather(part, rows) for part in decoder_state),
            scores=tf.where(alive, scores, _NEG), alive=alive,
            last=tf.reshape(word, [-1]), tokens=tokens, alphas=alphas,
            best_score=tf.where(better, ending_score, s["best_score"]),
            best_tokens=tf.where(better[:, None], tf.gather(tokens, ending, batch_dims=1),
                                 s["best_tokens"]),
            best_alphas=tf.where(better[:, None, None], tf.gather(alphas, ending, batch_dims=1),
                                 s["best_alphas"]),
            best_words=tf.where(better, t, s["best_words"]))

    s, = tf.while_loop(not_done, lambda s: (advance(s),), (state,))
    finished = s["best_score"] > _NEG / 2
    live = tf.argmax(tf.where(s["alive"], s["scores"], 2 * _NEG), axis=1, output_type=tf.int32)
    steps = s["t"]
    num_words = tf.where(finished, s["best_words"], steps)
    tokens = tf.where(finished[:, None], s["best_tokens"], tf.gather(s["tokens"], live, batch_dims=1))
    alphas = tf.where(finished[:, None, None], s["best_alphas"],
                      tf.gather(s["alphas"], live, batch_dims=1))
    return BeamSearchResult(
        tokens=tokens,
        word_mask=tf.sequence_mask(num_words, max_length),
        log_probs=tf.where(finished, s["best_score"],
                           tf.gather(s["scores"], live, batch_dims=1)),
        finished=finished,
        alphas=alphas)
