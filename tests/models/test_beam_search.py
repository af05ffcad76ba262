"""Batched beam search, for both decoders: k=1 is greedy, batching changes nothing, scores are the
model's log-probabilities, and a caption comes back even when the end token never does. The
references decode through the same decoder interface (`start_decoding`, `decode_step`) one image
and one step at a time in Python."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from caption_aug.models.captioner import build_captioner
from caption_aug.models.captioner.beam_search import beam_search
from tests.models.captioner_fixtures import (END, IMAGE_SIZE, PAD, START, VOCAB,
                                             tiny_captioner_config, tiny_transformer)

MAX_LENGTH = 9


TRANSFORMER = tiny_transformer(num_layers=2, dropout=0.0, max_length=MAX_LENGTH + 1)


@pytest.fixture(scope="module", params=[{}, {"attention_coverage": True},
                                        {"position_channels": True, "relation_head": True},
                                        {"attention_coverage": True, "deep_output": True},
                                        TRANSFORMER],
                ids=["plain", "coverage", "relation_head", "coverage_deep_output", "transformer"])
def model(request):
    keras.utils.set_random_seed(7)
    model = build_captioner(tiny_captioner_config(**request.param), VOCAB, IMAGE_SIZE)
    # Sharper, more varied word distributions than a fresh init, so that beams diverge.
    kernel = model.decoder.word_logits.kernel
    kernel.assign(kernel * 10.0)
    # and an end token likely enough that some captions finish within MAX_LENGTH.
    bias = model.decoder.word_logits.bias
    if model.decoder.has_attention:
        bias.assign(bias + 3.0 * tf.one_hot(END, VOCAB))
    else:  # a fresh transformer barely reads the image: louder pixels, and its end token's
        # logit needs more to finish some captions (not all) at k = 1, 3 and 5
        memory = model.decoder.memory_projection.kernel
        memory.assign(memory * 3.0)
        bias.assign(bias + 13.0 * tf.one_hot(END, VOCAB))
    return model


@pytest.fixture(scope="module")
def features(model):
    images = tf.random.stateless_normal([5, IMAGE_SIZE, IMAGE_SIZE, 3], seed=[1, 2])
    return model.encoder(images, training=False)


def _search(model, features, k, banned=(PAD,)):
    return beam_search(model.decoder, features, k, MAX_LENGTH, START, END, PAD, banned_ids=banned)


def greedy_decode(decoder, features):
    """The plain greedy decoder, one step at a time in Python: argmax word, stop at end."""
    context, state = decoder.start_decoding(features, 1, MAX_LENGTH)
    word = tf.fill([features.shape[0]], START)
    done = np.zeros(features.shape[0], bool)
    tokens, total = [], np.zeros(features.shape[0])
    for t in range(MAX_LENGTH):
        logits, state, _ = decoder.decode_step(context, word, state, t)
        log_probs = tf.nn.log_softmax(logits).numpy()
        log_probs[:, PAD] = -np.inf
        word_np = log_probs.argmax(-1)
        total += np.where(done, 0.0, log_probs.max(-1))
        tokens.append(np.where(done, -1, word_np))
        done |= word_np == END
        word = tf.constant(word_np, tf.int32)
    return np.stack(tokens, 1), total


def reference_beam_search(decoder, features, k):
    """The reference's algorithm for one image, in Python: rank the k best continuations of the
    live beams; those ending in the end token are set aside as complete and k shrinks; the best
    complete caption wins. Returns (score, words) or None when nothing completes."""
    context, state = decoder.start_decoding(features, 1, MAX_LENGTH)
    beams, scores, complete = [[]], np.zeros(1), []
    for t in range(MAX_LENGTH):
        last = tf.constant([beam[-1] if beam else START for beam in beams])
        # The image's one row of context serves every live beam.
        rows_context = tf.nest.map_structure(
            lambda part: tf.repeat(part, len(beams), axis=0) if part.shape[0] == 1 else part,
            context)
        logits, state, _ = decoder.decode_step(rows_context, last, state, t)
        log_probs = tf.nn.log_softmax(logits).numpy()
        log_probs[:, PAD] = -np.inf
        candidates = (scores[:, None] + log_probs).reshape(-1)
        live, rows = [], []
        for index in np.argsort(-candidates, kind="stable")[:k]:
            parent, word = divmod(int(index), VOCAB)
            if word == END:
                complete.append((candidates[index], beams[parent]))
            else:
                live.append((candidates[index], beams[parent] + [word]))
                rows.append(parent)
        k = len(live)
        if not k:
            break
        scores, beams = np.array([score for score, _ in live]), [beam for _, beam in live]
        state = tuple(tf.gather(part, rows) for part in state)
    return max(complete, key=lambda item: item[0]) if complete else None


def _caption(result, i):
    return result.tokens[i].numpy()[result.word_mask[i].numpy()].tolist()


def test_beam_size_one_is_greedy(model, features):
    result = _search(model, features, 1)
    tokens, total = greedy_decode(model.decoder, features)
    for i in range(features.shape[0]):
        words = [t for t in tokens[i] if t not in (-1, END)]
        assert _caption(result, i) == words
        assert bool(result.finished[i]) == (END in tokens[i])
    np.testing.assert_allclose(result.log_probs, total, rtol=1e-4, atol=1e-4)


def test_batched_beam_search_equals_one_image_at_a_time(model, features):
    batched = _search(model, features, 3)
    for i in range(features.shape[0]):
        alone = _search(model, features[i:i + 1], 3)
        assert _caption(batched, i) == _caption(alone, 0)
        np.testing.assert_allclose(batched.log_probs[i], alone.log_probs[0], rtol=1e-4)
        np.testing.assert_allclose(batched.alphas[i], alone.alphas[0], atol=1e-5)


@pytest.mark.parametrize("beam_size", [3, 5])
def test_batched_beam_search_equals_the_references_per_image_algorithm(model, features, beam_size):
    result = _search(model, features, beam_size)
    compared = 0
    for i in range(features.shape[0]):
        expected = reference_beam_search(model.decoder, features[i:i + 1], beam_size)
        assert bool(result.finished[i]) == (expected is not None)
        if expected is not None:
            compared += 1
            assert _caption(result, i) == expected[1]
            np.testing.assert_allclose(result.log_probs[i], expected[0], rtol=1e-4)
    assert compared >= 1


def test_scores_are_the_teacher_forced_log_probabilities_of_the_caption(model, features):
    result = _search(model, features, 3)
    assert bool(tf.reduce_any(result.finished)), "the fixture should finish some captions"
    for i in range(features.shape[0]):
        words = _caption(result, i)
        emitted = words + ([END] if result.finished[i] else [])
        inputs = tf.constant([[START] + emitted[:-1]])
        logits, alphas, _ = model.decoder(features[i:i + 1], inputs, training=False)
        log_probs = tf.nn.log_softmax(logits)[0].numpy()
        expected = sum(log_probs[t, token] for t, token in enumerate(emitted))
        np.testing.assert_allclose(result.log_probs[i], expected, rtol=1e-4)
        if alphas is None:  # a decoder without attention: no maps
            assert result.alphas.shape == (features.shape[0], MAX_LENGTH, 0)
            continue
        np.testing.assert_allclose(result.alphas[i, :len(emitted)], alphas[0], atol=1e-5)
        assert not result.alphas[i, len(emitted):].numpy().any()


def test_wider_beams_find_captions_at_least_as_likely_on_average(model, features):
    scores = [float(tf.reduce_mean(_search(model, features, k).log_probs)) for k in (1, 5)]
    assert scores[1] >= scores[0] - 1e-4


def test_a_caption_comes_back_when_the_end_token_never_does(model, features):
    result = _search(model, features, 3, banned=(PAD, END))
    assert not bool(tf.reduce_any(result.finished))
    assert result.word_mask.numpy().all()  # MAX_LENGTH words each, no end token, no crash
    assert result.tokens.shape == (features.shape[0], MAX_LENGTH)
    assert np.isfinite(result.log_probs.numpy()).all()


def test_finished_captions_are_preferred_and_padded_after_end(model, features):
    result = _search(model, features, 4)
    for i in np.flatnonzero(result.finished.numpy()):
        n = int(result.word_mask[i].numpy().sum())
        assert result.tokens[i, n] == END and (result.tokens[i, n + 1:].numpy() == PAD).all()
    assert PAD not in result.tokens.numpy()[result.word_mask.numpy()]


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_beam_search_runs_in_one_graph_static_shapes_and_xla(model, features, batch, jit_compile):
    compiled = tf.function(lambda f: _search(model, f, 3), jit_compile=jit_compile)
    eager, graph = _search(model, features[:batch], 3), compiled(features[:batch])
    np.testing.assert_array_equal(eager.tokens, graph.tokens)
    np.testing.assert_allclose(eager.log_probs, graph.log_probs, rtol=1e-4)
