"""Stage2GAN models: shapes and ranges, B as an explicit differentiable input, one-hot B equals
the derived discriminator, derive() through JSON, the matching-aware loss, the caption
embeddings (ids or differentiable one-hots), checkpoints that restore every layer."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from caption_aug.models import sentence_encoder
from caption_aug.models.stage2gan import (CaptionConditioning, Stage2Discriminator,
                                          Stage2Generator, architecture_from_json,
                                          architecture_to_json, darts_ops, discriminator_loss,
                                          generator_loss, mode_seeking_loss)
from caption_aug.models.stage2gan.conditioning import (EncoderConditioning, random_offsets,
                                                      translate)

SIZE = 32


def _inputs(batch=3, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"),
            "text_embedding": rng.standard_normal((batch, 1024)).astype("float32")}


@pytest.mark.parametrize("size,upsampling", [(32, "transposed"), (64, "transposed"),
                                             (32, "resize"), (64, "resize")])
def test_generator_gives_images_of_the_configured_size_in_tanh_range(size, upsampling):
    gen = Stage2Generator(size, base_channels=4, upsampling=upsampling)
    inputs = {"text_embedding": tf.random.normal([5, 1024]), "noise": tf.random.normal([5, 100])}
    images = gen(inputs, training=True).numpy()
    assert images.shape == (5, size, size, 3)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    other = gen({**inputs, "noise": tf.random.normal([5, 100])}, training=False).numpy()
    assert not np.allclose(other, gen(inputs, training=False).numpy())


def test_text_modulation_starts_as_the_plain_generator_and_then_conditions_every_layer():
    inputs = {"text_embedding": tf.random.normal([4, 1024]), "noise": tf.random.normal([4, 100])}
    generators = {}
    for modulated in (False, True):
        keras.utils.set_random_seed(0)
        generators[modulated] = Stage2Generator(32, base_channels=4, upsampling="resize",
                                                text_modulation=modulated)
        generators[modulated].build_for()
    plain, film = generators[False], generators[True]
    shared = [v for v in film.variables if "modulation" not in v.path]
    for source, target in zip(plain.variables, shared):
        target.assign(source)
    np.testing.assert_allclose(film(inputs), plain(inputs), atol=1e-6)   # zero-initialised
    for variable in film.variables:
        if "modulation" in variable.path and "kernel" in variable.path:
            variable.assign(tf.random.normal(variable.shape, stddev=0.5))
    assert np.abs(film(inputs).numpy() - plain(inputs).numpy()).mean() > 1e-3


@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_gives_one_logit_per_image_and_keeps_b_out_of_the_weights(size):
    disc = Stage2Discriminator(size, base_channels=4)
    logits = disc(_inputs(size=size), training=True)
    assert tuple(logits.shape) == (3,)
    edges = 2 * int(np.log2(size / 4))
    assert tuple(disc.arch_weights.shape) == (edges, len(darts_ops.OPS))
    assert all(v is not disc.arch_weights for v in disc.trainable_variables)
    assert any(v is disc.arch_weights for v in disc.non_trainable_variables)


def test_image_size_must_halve_down_to_four():
    with pytest.raises(ValueError, match="48"):
        Stage2Discriminator(48)


def test_b_receives_a_gradient_through_the_logits_when_passed_explicitly():
    disc = Stage2Discriminator(SIZE, base_channels=4)
    inputs = _inputs()
    disc(inputs)
    arch = tf.random.normal(disc.arch_weights.shape, stddev=0.1, seed=7)
    with tf.GradientTape() as tape:
        tape.watch(arch)
        loss = generator_loss(disc(inputs, training=True, arch_weights=arch))
    grad = tape.gradient(loss, arch).numpy()
    assert np.all(np.isfinite(grad))
    assert np.all(np.abs(grad).sum(axis=1) > 0)   # every edge's mixing weights matter
    # Softmax is shift-invariant per edge, so each row of the gradient sums to zero.
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-6)


def test_stateless_call_takes_b_explicitly_and_leaves_the_model_untouched():
    disc = Stage2Discriminator(SIZE, base_channels=4)
    inputs = _inputs()
    disc(inputs)
    before = [v.numpy().copy() for v in disc.variables]
    arch = tf.random.normal(disc.arch_weights.shape, seed=8)
    trainable = [v.value for v in disc.trainable_variables]
    non_trainable = [v.value for v in disc.non_trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(arch)
        logits, _ = disc.stateless_call(trainable, non_trainable, inputs, training=True,
                                        arch_weights=arch)
        total = tf.reduce_sum(logits)
    assert np.abs(tape.gradient(total, arch).numpy()).sum() > 0
    for value, variable in zip(before, disc.variables):
        np.testing.assert_array_equal(value, variable.numpy())
    disc.arch_weights.assign(arch)
    np.testing.assert_allclose(disc(inputs, training=True).numpy(), logits.numpy(), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_supernet_with_one_hot_b_equals_the_derived_discriminator(training, conditioning):
    supernet = Stage2Discriminator(SIZE, base_channels=4, seed=1, conditioning=conditioning)
    inputs = _inputs(batch=4)
    supernet(inputs)
    rng = np.random.default_rng(0)
    chosen = rng.integers(1, len(darts_ops.OPS), size=supernet.num_edges)
    # B = 1e4 * one-hot: softmax(B) is exactly one-hot in float32 (exp(-1e4) underflows to 0).
    one_hot = 1e4 * np.eye(len(darts_ops.OPS), dtype="float32")[chosen]
    np.testing.assert_array_equal(tf.nn.softmax(one_hot).numpy(), one_hot / 1e4)
    derived = Stage2Discriminator(SIZE, base_channels=4, conditioning=conditioning,
                                  architecture=[darts_ops.OPS[k] for k in chosen])
    derived(inputs)
    derived.copy_weights_from(supernet)
    expected = derived(inputs, training=training).numpy()
    got = supernet(inputs, training=training, arch_weights=one_hot).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    mixed = supernet(inputs, training=training).numpy()    # the random B mixes every op
    assert not np.allclose(mixed, expected, atol=1e-3)


def test_derive_picks_the_strongest_nonzero_op_and_round_trips_through_json():
    supernet = Stage2Discriminator(SIZE, base_channels=4)
    supernet(_inputs())
    arch = np.zeros(supernet.arch_weights.shape, "float32")
    arch[:, darts_ops.OPS.index("none")] = 5.0           # "none" is never chosen
    picks = ["sep_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "skip_connect", "avg_pool_3x3",
             "sep_conv_5x5"]
    for e, name in enumerate(picks):
        arch[e, darts_ops.OPS.index(name)] = 2.0
    supernet.arch_weights.assign(arch)
    derived = supernet.derive()
    assert derived["architecture"] == picks
    assert [edge["stride"] for edge in derived["edges"]] == [2, 1] * 3
    text = architecture_to_json(derived)
    assert architecture_from_json(text) == json.loads(text) == derived
    rebuilt = Stage2Discriminator(SIZE, base_channels=4,
                                  architecture=architecture_from_json(text)["architecture"])
    rebuilt(_inputs())
    assert rebuilt.derive()["architecture"] == picks
    assert rebuilt.arch_weights is None
    assert all(len(edge.candidates) == 1 for edge in rebuilt.edges)


def test_architecture_json_with_wrong_edge_count_is_refused():
    bad = json.dumps({"image_size": SIZE, "architecture": ["sep_conv_3x3"] * 4})
    with pytest.raises(ValueError, match="needs 6 op names"):
        architecture_from_json(bad)


def test_matching_aware_loss_labels_the_three_pairs():
    real, wrong, fake = (tf.Variable(np.linspace(-2, 2, 5).astype("float32")) for _ in range(3))
    with tf.GradientTape() as tape:
        loss = discriminator_loss(real, wrong, fake)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    expected = (bce(tf.ones(5), real) + 0.5 * bce(tf.zeros(5), wrong)
                + 0.5 * bce(tf.zeros(5), fake))
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    g_real, g_wrong, g_fake = tape.gradient(loss, [real, wrong, fake])
    assert np.all(g_real.numpy() < 0)     # descending raises D(real image, right caption)
    assert np.all(g_wrong.numpy() > 0)    # and lowers D(real image, wrong caption)
    assert np.all(g_fake.numpy() > 0)     # and D(generated image, right caption)
    # The best discriminator scores (real: +, wrong: -, fake: -); swapping any label costs.
    big = tf.fill([5], 20.0)
    assert discriminator_loss(big, -big, -big).numpy() < 1e-6
    assert discriminator_loss(big, big, -big).numpy() > 5
    assert discriminator_loss(big, -big, big).numpy() > 5
    assert discriminator_loss(-big, -big, -big).numpy() > 5


def test_losses_are_finite_for_extreme_logits():
    extreme = tf.constant([-1e4, 1e4, 0.0])
    assert np.isfinite(discriminator_loss(extreme, extreme, extreme).numpy())
    np.testing.assert_allclose(generator_loss(tf.constant([1e4])).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(generator_loss(tf.constant([-1e4])).numpy(), 1e4, rtol=1e-6)


def test_caption_conditioning_embeds_to_1024_and_ignores_padding():
    cond = CaptionConditioning(vocabulary_size=50)
    ids = np.array([[1, 5, 7, 2, 0, 0], [1, 9, 2, 0, 0, 0]], "int32")
    mask = ids != 0
    mask[:, 0] = True
    vectors = cond.embed(ids, mask).numpy()
    assert vectors.shape == (2, 1024)
    repadded = np.where(mask, ids, 33).astype("int32")
    np.testing.assert_allclose(cond.embed(repadded, mask).numpy(), vectors, rtol=1e-6)
    assert not np.allclose(vectors[0], vectors[1])


def _conditionings():
    vocabulary = 40
    encoder = sentence_encoder.SentenceEncoder(vocabulary, image_size=16, embedding_dim=32,
                                               token_embedding_dim=8, rnn_units=8)
    return [CaptionConditioning(vocabulary, token_dim=8, embedding_dim=32),
            EncoderConditioning(encoder, 16, "imagenet")]


@pytest.mark.parametrize("index", [0, 1], ids=["trainable", "encoder"])
def test_conditioning_embeds_ids_and_one_hots_alike_and_differentiably(index):
    cond = _conditionings()[index]
    ids = np.array([[1, 5, 7, 2, 0], [1, 9, 2, 0, 0]], "int32")
    mask = ids != 0
    mask[:, 0] = True
    one_hots = tf.one_hot(ids, 40)

    @tf.function
    def embed_and_grad(tokens):
        with tf.GradientTape() as tape:
            tape.watch(tokens)
            vectors = cond.embed(tokens, mask)
            target = tf.reduce_sum(vectors[:, :4])
        return vectors, tape.gradient(target, tokens)

    from_ids = cond.embed(ids, mask).numpy()
    from_one_hots, grad = embed_and_grad(one_hots)
    assert from_ids.shape == (2, 32)
    np.testing.assert_allclose(from_one_hots.numpy(), from_ids, rtol=1e-5, atol=1e-5)
    assert np.abs(grad.numpy()[mask]).sum() > 0          # stage 4's path into the captions
    assert np.abs(grad.numpy()[~mask]).sum() == 0        # padding is ignored


def test_encoder_conditioning_is_the_frozen_encoder_text_vector_at_unit_component_scale():
    cond = _conditionings()[1]
    ids = np.array([[1, 5, 7, 2]], "int32")
    mask = np.ones_like(ids, bool)
    vectors = cond.embed(ids, mask).numpy()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), np.sqrt(32), rtol=1e-5)
    np.testing.assert_allclose(vectors / np.sqrt(32),
                               cond.encoder.embed_text(ids, mask).numpy(), rtol=1e-5)
    assert cond.trainable_variables == [] and not cond.encoder.trainable_variables


@pytest.mark.parametrize("kind", ["transposed", "resize", "text_modulation", "supernet"])
def test_checkpoint_restores_every_variable(kind, tmp_path):
    def build():
        if kind == "supernet":
            model = Stage2Discriminator(32, base_channels=4)
        else:
            model = Stage2Generator(32, base_channels=4, upsampling=kind.replace(
                "text_modulation", "resize"), text_modulation=kind == "text_modulation")
        model.build_for()
        return model
    model = build()
    for variable in model.variables:        # away from the initial values
        variable.assign(variable + 0.1)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    fresh = build()
    tf.train.Checkpoint(model=fresh).restore(path).assert_consumed()
    for saved, restored in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy(), err_msg=saved.path)


def test_hinge_losses_stop_at_the_margin_and_rank_the_three_pairs():
    big = tf.fill([5], 20.0)
    assert discriminator_loss(big, -big, -big, kind="hinge").numpy() == 0.0
    assert discriminator_loss(tf.ones(5), -tf.ones(5), -tf.ones(5), kind="hinge").numpy() == 0.0
    assert discriminator_loss(-big, big, big, kind="hinge").numpy() == pytest.approx(42.0)
    assert discriminator_loss(tf.zeros(5), tf.zeros(5), tf.zeros(5),
                              kind="hinge").numpy() == pytest.approx(2.0)
    fake = tf.Variable(np.linspace(-2, 2, 5).astype("float32"))
    with tf.GradientTape() as tape:
        loss = generator_loss(fake, kind="hinge")
    assert loss.numpy() == pytest.approx(0.0, abs=1e-6)
    assert np.all(tape.gradient(loss, fake).numpy() < 0)   # descending raises D(fake)


def test_translate_moves_each_image_by_its_own_offset_with_reflected_edges():
    images = tf.Variable(np.arange(2 * 6 * 6).reshape(2, 6, 6, 1).astype("float32"))
    offsets = tf.constant([[2, 2], [0, 4]])         # max shift 2: centre, then down 2 / left 2
    with tf.GradientTape() as tape:
        shifted = translate(images, offsets, 2)
        total = tf.reduce_sum(shifted[1, 2:, :4])
    shifted = shifted.numpy()
    np.testing.assert_array_equal(shifted[0], images.numpy()[0])
    np.testing.assert_array_equal(shifted[1, 2:, :4], images.numpy()[1, :4, 2:])
    np.testing.assert_array_equal(shifted[1, 0], images.numpy()[1, 2, [2, 3, 4, 5, 4, 3]])
    assert tape.gradient(total, images).numpy()[1, :4, 2:].min() == 1.0
    drawn = random_offsets(tf.random.Generator.from_seed(0), 500, 2).numpy()
    assert drawn.min() == 0 and drawn.max() == 4


def test_matching_loss_reaches_the_generated_pixels_through_the_frozen_encoder():
    cond = _conditionings()[1]
    ids = np.array([[1, 5, 7, 2], [1, 9, 2, 0], [1, 4, 4, 2]], "int32")
    embedding = cond.embed(ids, ids != 0)
    images = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 3)).astype("float32"))
    with tf.GradientTape() as tape:     # 8x8 images are resized to the encoder's 16x16
        loss = cond.matching_loss(images, embedding, tf.range(3), temperature=0.1)
    gradient = tape.gradient(loss, images).numpy()
    assert np.isfinite(loss.numpy()) and loss.numpy() > 0
    assert np.abs(gradient).max() > 0
    assert not cond.encoder.trainable


def test_mode_seeking_loss_is_the_inverse_image_distance_per_noise_distance():
    images, noise = tf.zeros([2, 4, 4, 3]), tf.zeros([2, 8])
    shifted = tf.concat([tf.fill([1, 4, 4, 3], 0.5), tf.fill([1, 4, 4, 3], 0.25)], 0)
    np.testing.assert_allclose(
        mode_seeking_loss(images, shifted, noise, tf.ones([2, 8])).numpy(), 1 / 0.375, rtol=1e-4)
    # a generator that ignores its noise draws the same image twice: the term explodes
    assert mode_seeking_loss(images, images, noise, tf.ones([2, 8])).numpy() > 1e4
