"""The stage-1 caption LM: weighted loss and its gradients, generation, straight-through one-hots,
stateless calls and preset round trips, on a tiny real keras-hub GPT2CausalLM."""

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from caption_aug.models import caption_lm

VOCAB = 40
START = END = 0
PAD = 1


def tiny_config(**changes):
    return ml_collections.ConfigDict(dict(dict(
        preset="", num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64, dropout=0.0,
        max_sequence_length=32), **changes))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return caption_lm.build_caption_lm(tiny_config(), VOCAB)


def make_batch():
    """Three framed captions of different lengths, padded with PAD."""
    rows = [[START, 5, 6, 7, 8, END], [START, 9, 10, END], [START, 11, 12, 13, END]]
    token_ids = np.full([3, 6], PAD, np.int32)
    mask = np.zeros([3, 6], bool)
    for r, row in enumerate(rows):
        token_ids[r, :len(row)] = row
        mask[r, :len(row)] = True
    return {"token_ids": tf.constant(token_ids), "padding_mask": tf.constant(mask),
            "caption_index": tf.constant([4, 0, 2], tf.int32)}


def loss_and_gradients(model, batch, weight_logits):
    with tf.GradientTape() as tape:
        losses = caption_lm.batch_losses(model, batch)
        loss = caption_lm.weighted_lm_loss(losses, weight_logits, batch["caption_index"])
    return loss, losses, tape.gradient(loss, model.trainable_variables)


def dense(gradients):
    return [tf.convert_to_tensor(g).numpy() for g in gradients]


def dense_or_none(gradients):
    return [None if g is None else tf.convert_to_tensor(g).numpy() for g in gradients]


def test_caption_losses_are_mean_token_cross_entropy_over_non_padding(model):
    batch = make_batch()
    logits = caption_lm.lm_logits(model, batch["token_ids"], batch["padding_mask"]).numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = []
    for r in range(3):
        length = int(batch["padding_mask"][r].numpy().sum())
        ids = batch["token_ids"][r].numpy()
        expected.append(-np.mean([log_probs[r, t - 1, ids[t]] for t in range(1, length)]))
    np.testing.assert_allclose(caption_lm.batch_losses(model, batch).numpy(), expected, rtol=1e-5)


def test_zero_weight_removes_the_captions_gradient_exactly(model):
    batch = make_batch()
    weight_logits = tf.constant(caption_lm.initial_weight_logits(6, 0.9))
    weight_logits = tf.tensor_scatter_nd_update(weight_logits, [[0]], [-np.inf])  # a_0 = 0: row 1
    changed = dict(batch, token_ids=tf.tensor_scatter_nd_update(
        batch["token_ids"], [[1, 1], [1, 2]], [30, 31]))
    _, losses, gradients = loss_and_gradients(model, batch, weight_logits)
    _, changed_losses, changed_gradients = loss_and_gradients(model, changed, weight_logits)
    assert losses[1] != changed_losses[1]  # caption 1 really changed ...
    for g, h in zip(dense(gradients), dense(changed_gradients)):
        np.testing.assert_array_equal(g, h)  # ... and its gradient contribution is exactly zero
    without = {k: tf.gather(v, [0, 2]) for k, v in batch.items()}
    _, _, without_gradients = loss_and_gradients(model, without, weight_logits)
    for g, h in zip(dense(gradients), dense(without_gradients)):
        np.testing.assert_allclose(g, h, atol=1e-6)


def test_doubling_a_weight_doubles_that_captions_contribution(model):
    batch = make_batch()
    base = np.full([6], 0.3, np.float32)                  # a_i = 0.3 for all
    doubled = base.copy()
    doubled[0] = 0.6                                      # caption_index 0 is batch row 1
    logit = lambda a: tf.constant(np.log(a / (1 - a)))
    loss, losses, gradients = loss_and_gradients(model, batch, logit(base))
    loss2, _, gradients2 = loss_and_gradients(model, batch, logit(doubled))
    np.testing.assert_allclose(loss2 - loss, 0.3 * losses[1].numpy(), rtol=1e-5)
    single = {k: v[1:2] for k, v in batch.items()}
    with tf.GradientTape() as tape:
        single_loss = tf.reduce_sum(caption_lm.batch_losses(model, single))
    single_gradients = dense(tape.gradient(single_loss, model.trainable_variables))
    for g, g2, s in zip(dense(gradients), dense(gradients2), single_gradients):
        np.testing.assert_allclose(g2 - g, 0.3 * s, atol=2e-6)


def test_gradient_wrt_weight_logits_is_sigmoid_prime_times_caption_loss(model):
    batch = make_batch()
    weight_logits = tf.Variable(np.linspace(-2, 2, 6).astype(np.float32))
    with tf.GradientTape() as tape:
        losses = caption_lm.batch_losses(model, batch)
        loss = caption_lm.weighted_lm_loss(losses, weight_logits, batch["caption_index"])
    gradient = tf.convert_to_tensor(tape.gradient(loss, weight_logits)).numpy()
    a = 1 / (1 + np.exp(-weight_logits.numpy()))
    expected = np.zeros(6, np.float32)
    index = batch["caption_index"].numpy()
    expected[index] = (a * (1 - a))[index] * losses
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)
    assert np.all(gradient[[1, 3, 5]] == 0)


def test_initial_weight_logits_give_the_configured_weight():
    np.testing.assert_allclose(tf.sigmoid(caption_lm.initial_weight_logits(3, 0.9)), 0.9, rtol=1e-6)
    with pytest.raises(ValueError, match="strictly"):
        caption_lm.initial_weight_logits(3, 1.0)


def test_stateless_call_matches_and_leaves_variables_alone(model):
    batch = make_batch()
    before = [v.numpy().copy() for v in model.trainable_variables]
    shifted = [v + 0.01 for v in model.trainable_variables]
    state = (shifted, [v.value for v in model.non_trainable_variables])
    same = caption_lm.batch_losses(
        model, batch, state=([v.value for v in model.trainable_variables], state[1]))
    np.testing.assert_allclose(same, caption_lm.batch_losses(model, batch), rtol=1e-6)
    moved = caption_lm.batch_losses(model, batch, state=state)
    assert not np.allclose(moved, same)
    for v, b in zip(model.trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), b)


class _Tokenizer:
    """The three framing ids `generate_captions` reads from the shared tokenizer."""
    start_id = START
    end_id = END
    pad_id = PAD


def _generation(sampler="beam", num_beams=2):
    return ml_collections.ConfigDict(dict(sampler=sampler, num_beams=num_beams, top_k=5, top_p=0.9,
                                          temperature=1.0))


@pytest.mark.parametrize("sampler", ["beam", "greedy", "top_k", "top_p"])
def test_generation_keeps_the_prompt_and_the_max_length(model, sampler):
    caption_lm.compile_for_generation(model, _generation(sampler), seed=3, jit_compile=False)
    prompts = [[5, 6, 7], [9], [11, 12, 13, 14, 15], [20, 21]]
    captions = caption_lm.generate_captions(model, _Tokenizer, prompts, max_length=8, batch_size=3)
    assert len(captions) == len(prompts)
    for prompt, caption in zip(prompts, captions):
        assert caption[:len(prompt)] == prompt
        assert len(caption) <= 8
        assert END not in caption


def _reference_beam_search(model, prompt, length, num_beams):
    """Plain beam search over full teacher-forced passes (no cache), best beam at the end."""
    beams = [(0.0, list(prompt))]
    while len(beams[0][1]) < length:
        candidates = []
        for score, seq in beams:
            ids = np.array([seq], np.int32)
            logits = caption_lm.lm_logits(model, ids, np.ones_like(ids, bool)).numpy()[0, -1]
            log_probs = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
            candidates += [(score + log_probs[t], seq + [t]) for t in range(VOCAB)]
        beams = sorted(candidates, key=lambda c: -c[0])[:num_beams]
    return beams[0][1]


@pytest.mark.parametrize("num_beams", [1, 2, 3])
def test_beam_search_uses_the_configured_number_of_beams(model, num_beams):
    prompt, length = [START, 5, 6], 8
    caption_lm.compile_for_generation(model, _generation("beam", num_beams),
                                      jit_compile=num_beams == 2)  # both paths give the same
    ids = np.zeros([1, length], np.int32)
    ids[0, :3] = prompt
    mask = np.zeros([1, length], bool)
    mask[0, :3] = True
    out, _ = caption_lm.generate_batch(model, ids, mask, stop_token_ids=None)
    assert list(out[0]) == _reference_beam_search(model, prompt, length, num_beams)


def test_beam_search_differs_with_the_number_of_beams(model):
    """Guards the test above: on this model the beam count changes the answer."""
    prompt, length = [START, 5, 6], 8
    found = {n: _reference_beam_search(model, prompt, length, n) for n in (1, 2, 3)}
    assert len({tuple(v) for v in found.values()}) > 1


def test_prompt_tokens_are_the_first_words():
    class WordTokenizer:
        def encode(self, texts):
            return [[len(w) for w in t.split()] for t in texts]

    assert caption_lm.prompt_texts(["a b c d e f g", "one two"], 5) == ["a b c d e", "one"]
    assert caption_lm.prompt_tokens(["aa bbb c"], WordTokenizer(), 2) == [[2, 3]]


def test_straight_through_one_hots_are_one_hot_with_a_gradient_in_the_lm(model):
    batch = make_batch()
    generated = np.zeros([3, 6], bool)
    generated[:, 3:] = batch["padding_mask"].numpy()[:, 3:]   # positions 3.. were "sampled"
    target = tf.constant(np.random.default_rng(0).normal(size=[3, 6, VOCAB]), tf.float32)
    with tf.GradientTape() as tape:
        one_hots = caption_lm.straight_through_one_hots(
            model, batch["token_ids"], batch["padding_mask"], generated, temperature=0.5)
        loss = tf.reduce_sum(one_hots * target)
    np.testing.assert_array_equal(one_hots.numpy(), np.eye(VOCAB)[batch["token_ids"].numpy()])
    gradients = tape.gradient(loss, model.trainable_variables)
    assert sum(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) for g in gradients
               if g is not None) > 0
    with tf.GradientTape() as tape:   # nothing generated: constant one-hots, zero gradient
        loss = tf.reduce_sum(target * caption_lm.straight_through_one_hots(
            model, batch["token_ids"], batch["padding_mask"], np.zeros([3, 6], bool)))
    assert all(g is None or not np.any(g) for g in dense_or_none(
        tape.gradient(loss, model.trainable_variables)))


def test_straight_through_gradient_is_that_of_the_tempered_softmax(model):
    batch = make_batch()
    generated = batch["padding_mask"].numpy().copy()
    generated[:, 0] = False
    target = tf.constant(np.random.default_rng(1).normal(size=[3, 6, VOCAB]), tf.float32)

    def gradient(relaxed):
        with tf.GradientTape() as tape:
            if relaxed:
                logits = caption_lm.lm_logits(model, batch["token_ids"], batch["padding_mask"])
                soft = tf.nn.softmax(logits[:, :-1] / 0.7, axis=-1) * generated[:, 1:, None]
                loss = tf.reduce_sum(soft * target[:, 1:])
            else:
                loss = tf.reduce_sum(target * caption_lm.straight_through_one_hots(
                    model, batch["token_ids"], batch["padding_mask"], generated, 0.7))
        return dense(tape.gradient(loss, model.trainable_variables))

    for g, h in zip(gradient(False), gradient(True)):
        np.testing.assert_allclose(g, h, atol=1e-6)


def test_preset_round_trip_through_a_local_folder(model, tmp_path):
    model.save_to_preset(str(tmp_path / "preset"))
    loaded = caption_lm.build_caption_lm(tiny_config(preset=str(tmp_path / "preset")), VOCAB)
    batch = make_batch()
    np.testing.assert_allclose(caption_lm.batch_losses(loaded, batch),
                               caption_lm.batch_losses(model, batch), rtol=1e-6)
    with pytest.raises(ValueError, match="lm.preset"):
        caption_lm.build_caption_lm(tiny_config(preset=str(tmp_path / "preset")), VOCAB + 1)
