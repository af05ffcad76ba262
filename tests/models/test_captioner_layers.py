"""Shapes of every captioner layer, soft vs int tokens, stateless_call, backbones and weight files;
the model-level tests run on both decoders (LSTM with attention, transformer)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from caption_aug.models.captioner import build_captioner, build_encoder
from caption_aug.models.captioner.attention import SoftAttention
from caption_aug.models.captioner.decoder import AttentionDecoder
from caption_aug.models.captioner.encoder import PositionChannels, TorchToCaffe
from caption_aug.workdir import checkpoints
from tests.models.captioner_fixtures import (IMAGE_SIZE, VOCAB, tiny_captioner_config,
                                             tiny_transformer)


TRANSFORMER = tiny_transformer(num_layers=2, dropout=0.1, max_length=8)


@pytest.fixture(scope="module", params=[{}, TRANSFORMER], ids=["lstm_attention", "transformer"])
def model(request):
    keras.utils.set_random_seed(1)
    return build_captioner(tiny_captioner_config(**request.param), VOCAB, IMAGE_SIZE)


def _inputs(batch=3, length=7, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": tf.constant(rng.normal(size=(batch, IMAGE_SIZE, IMAGE_SIZE, 3)), tf.float32),
            "tokens": tf.constant(rng.integers(0, VOCAB, (batch, length)), tf.int32)}


def test_small_cnn_encoder_gives_an_ExE_grid_of_pixels():
    encoder = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16))
    assert encoder.get_layer("block2_relu").output.shape == (None, 4, 4, 16)  # each block halves
    assert encoder(tf.zeros([2, 32, 32, 3])).shape == (2, 16, 16)
    upsampled = build_encoder("small_cnn", 32, encoded_size=14, small_cnn_filters=(8, 8, 16))
    assert upsampled(tf.zeros([1, 32, 32, 3])).shape == (1, 196, 16)  # adaptive pooling, as torch


def test_small_cnn_stem_extra_convs_and_residual_units():
    plain = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16))
    stem = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16),
                         small_cnn_stem=4)
    assert stem.get_layer("stem_relu").output.shape == (None, 32, 32, 4)  # stride 1: full size
    assert stem.get_layer("block2_relu").output.shape == (None, 4, 4, 16)
    # the stem's conv (3*3*3*4) and BN scale/offset (2*4); block0's conv now reads 4 channels
    assert stem.count_params() - plain.count_params() == (108 + 16) + 9 * 8 * (4 - 3)
    assert len(stem.trainable_weights) == len(plain.trainable_weights) + 3
    deep = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16),
                         small_cnn_convs_per_block=3)
    assert deep.get_layer("block1_2_relu").output.shape == (None, 8, 8, 8)  # unstrided
    assert deep.get_layer("block2_2_relu").output.shape == (None, 4, 4, 16)
    assert len(deep.trainable_weights) == len(plain.trainable_weights) + 3 * 2 * 3  # conv, bn x2
    residual = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16),
                             small_cnn_convs_per_block=2, small_cnn_residual=True)
    assert residual.get_layer("block1_1_add").output.shape == (None, 8, 8, 8)
    for encoder in (stem, deep, residual):
        assert encoder(tf.zeros([2, 32, 32, 3])).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="convs_per_block"):
        build_encoder("small_cnn", 32, encoded_size=4, small_cnn_convs_per_block=0)


def test_position_channels_append_each_pixels_x_and_y():
    plain = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16))
    placed = build_encoder("small_cnn", 32, encoded_size=4, small_cnn_filters=(8, 8, 16),
                           position_channels=True)
    features = placed(tf.zeros([2, 32, 32, 3])).numpy()
    assert features.shape == (2, 16, 18) and placed.count_params() == plain.count_params()
    x, y = features[1, :, -2], features[1, :, -1]
    np.testing.assert_allclose(x[:4], [0.125, 0.375, 0.625, 0.875])   # row-major: x varies first
    np.testing.assert_allclose(y[::4], [0.125, 0.375, 0.625, 0.875])


def test_small_cnn_options_off_build_the_plain_stack_weight_for_weight():
    keras.utils.set_random_seed(3)
    plain = build_captioner(tiny_captioner_config(), VOCAB, IMAGE_SIZE)
    keras.utils.set_random_seed(3)
    off = build_captioner(tiny_captioner_config(small_cnn_stem=0, small_cnn_convs_per_block=1,
                                                small_cnn_residual=True), VOCAB, IMAGE_SIZE)
    assert [w.path for w in off.weights] == [w.path for w in plain.weights]
    for a, b in zip(off.weights, plain.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    keras.utils.set_random_seed(3)
    stem = build_captioner(tiny_captioner_config(small_cnn_stem=8), VOCAB, IMAGE_SIZE)
    assert len(stem.encoder.trainable_weights) == len(plain.encoder.trainable_weights) + 3


def test_features_backbone_pools_a_precomputed_grid():
    encoder = build_encoder("features", 8, encoded_size=4, feature_dim=6)
    grid = tf.random.normal([2, 8, 8, 6])
    pixels = encoder(grid).numpy()
    assert pixels.shape == (2, 16, 6)
    np.testing.assert_allclose(pixels[:, 0], tf.reduce_mean(grid[:, :2, :2], axis=(1, 2)), atol=1e-6)


def test_attention_shapes_softmax_over_pixels_and_hypotheses_share_features():
    attention = SoftAttention(10)
    features, hidden = tf.random.normal([3, 16, 6]), tf.random.normal([3, 2, 5])
    attention.build(features.shape, hidden.shape)
    projected = attention.project_features(features)
    context, alpha = attention(features, projected, hidden)
    assert context.shape == (3, 2, 6) and alpha.shape == (3, 2, 16)
    np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(context, tf.einsum("bkp,bpf->bkf", alpha, features), atol=1e-5)
    alone, alone_alpha = attention(features, projected, hidden[:, 1:])  # each hypothesis on its own
    np.testing.assert_allclose(alone[:, 0], context[:, 1], atol=1e-5)
    np.testing.assert_allclose(alone_alpha[:, 0], alpha[:, 1], atol=1e-6)


def test_decoder_shapes_and_gate_width():
    decoder = AttentionDecoder(VOCAB, 12, 10, 16, dropout=0.5)
    features = tf.random.normal([3, 16, 6])
    decoder.build(features.shape)
    (h, c), (projected,) = decoder.initial_state(features)
    assert h.shape == c.shape == (3, 16) and projected.shape == (3, 16, 10)
    assert decoder.f_beta.kernel.shape == (16, 6)  # a gate per encoder channel, as the reference
    logits, alphas, _ = decoder(features, tf.zeros([3, 5], tf.int32))
    assert logits.shape == (3, 5, VOCAB) and alphas.shape == (3, 5, 16)


def test_coverage_is_the_attention_so_far_and_steers_only_later_words():
    decoder = AttentionDecoder(VOCAB, 12, 10, 16, dropout=0.5, coverage=True)
    features = tf.random.stateless_normal([2, 16, 6], seed=[3, 4])
    tokens = tf.constant(np.random.default_rng(0).integers(0, VOCAB, (2, 5)), tf.int32)
    decoder.build(features.shape)
    _, alphas, _ = decoder(features, tokens)
    state, projected = decoder.initial_state(features)
    for t in range(5):  # stepping by hand: coverage is the sum of the earlier words' attention
        np.testing.assert_allclose(state[2], tf.reduce_sum(alphas[:, :t], axis=1), atol=1e-5)
        state, alpha = decoder.step(features, projected, decoder.embedding(tokens[:, t]), state)
        np.testing.assert_allclose(alpha, alphas[:, t], atol=1e-5)
    kernel = decoder.attention.coverage_projection.kernel
    kernel.assign(kernel * 20.0 + 1.0)
    _, steered, _ = decoder(features, tokens)
    np.testing.assert_allclose(steered[:, 0], alphas[:, 0], atol=1e-6)  # nothing covered yet
    assert float(tf.reduce_max(tf.abs(steered[:, 1:] - alphas[:, 1:]))) > 1e-2


def test_relation_head_hands_the_lstm_its_context_and_the_vector_between_the_centres():
    decoder = AttentionDecoder(VOCAB, 12, 10, 16, dropout=0.5, relation_head=True)
    features = PositionChannels(4)(tf.random.stateless_normal([2, 16, 6], seed=[5, 6]))
    tokens = tf.constant(np.random.default_rng(1).integers(0, VOCAB, (2, 5)), tf.int32)
    decoder.build(features.shape)
    assert decoder.lstm.kernel.shape[0] == 12 + 8 + 8 + 2  # word, context, its context, vector
    logits, alphas, relation_alphas = decoder(features, tokens)
    assert relation_alphas.shape == alphas.shape == (2, 5, 16)
    np.testing.assert_allclose(tf.reduce_sum(relation_alphas, -1), 1.0, atol=1e-5)
    # The heads attend differently, and the vector reaches the words: zeroing the LSTM's rows
    # for it (the last two) changes the logits.
    assert float(tf.reduce_max(tf.abs(relation_alphas - alphas))) > 1e-3
    kernel = decoder.lstm.kernel
    kernel.assign(tf.concat([kernel[:-2], tf.zeros_like(kernel[-2:])], 0))
    assert float(tf.reduce_max(tf.abs(decoder(features, tokens)[0] - logits))) > 1e-4


def test_deep_output_word_classifier_reads_the_steps_gated_context_beside_h():
    decoder = AttentionDecoder(VOCAB, 12, 10, 16, dropout=0.5, deep_output=True)
    features = tf.random.stateless_normal([2, 16, 6], seed=[7, 8])
    tokens = tf.constant(np.random.default_rng(2).integers(0, VOCAB, (2, 5)), tf.int32)
    decoder.build(features.shape)
    assert decoder.word_logits.kernel.shape == (16 + 6, VOCAB)
    logits, alphas, _ = decoder(features, tokens)
    state, projected = decoder.initial_state(features)
    for t in range(5):  # stepping by hand: the state's last part is the step's gated context
        h = state[0]
        state, alpha = decoder.step(features, projected, decoder.embedding(tokens[:, t]), state)
        context = tf.einsum("bp,bpf->bf", alpha, features) * decoder.f_beta(h)
        np.testing.assert_allclose(state[-1], context, atol=1e-5)
        np.testing.assert_allclose(decoder.logits(decoder.hidden(state)), logits[:, t], atol=1e-4)
    kernel = decoder.word_logits.kernel
    kernel.assign(tf.concat([kernel[:16], tf.zeros_like(kernel[16:])], 0))
    assert float(tf.reduce_max(tf.abs(decoder(features, tokens)[0] - logits))) > 1e-3


def test_model_outputs_and_soft_one_hot_tokens_equal_int_tokens(model):
    inputs = _inputs()
    out = model(inputs, training=False)
    assert out["logits"].shape == (3, 7, VOCAB)
    assert (out["alphas"].shape == (3, 7, 16)) if model.decoder.has_attention else (
        set(out) == {"logits"})
    soft = model({"image": inputs["image"], "tokens": tf.one_hot(inputs["tokens"], VOCAB)},
                 training=False)
    np.testing.assert_allclose(soft["logits"], out["logits"], atol=1e-5)


def test_stateless_call_matches_call_leaves_weights_and_reaches_soft_tokens(model):
    inputs = _inputs()
    soft = tf.one_hot(inputs["tokens"], VOCAB)
    before = [v.numpy().copy() for v in model.variables]
    trainable = [tf.identity(v) for v in model.trainable_variables]
    non_trainable = [tf.identity(v) for v in model.non_trainable_variables]

    @tf.function
    def forward(trainable, soft):
        with tf.GradientTape() as tape:
            tape.watch(soft)
            out, _ = model.stateless_call(trainable, non_trainable,
                                          {"image": inputs["image"], "tokens": soft}, training=False)
            total = tf.reduce_sum(tf.nn.log_softmax(out["logits"])[..., 3])
        return out["logits"], tape.gradient(total, soft)

    logits, soft_gradient = forward(trainable, soft)
    np.testing.assert_allclose(logits, model(inputs, training=False)["logits"], atol=1e-5)
    assert float(tf.reduce_max(tf.abs(soft_gradient))) > 0
    shifted = [t + 0.01 for t in trainable]
    assert float(tf.reduce_max(tf.abs(forward(shifted, soft)[0] - logits))) > 1e-4
    for value, variable in zip(before, model.variables):
        np.testing.assert_array_equal(value, variable.numpy())


def test_dropout_only_in_training(model):
    inputs = _inputs()
    a, b = (model(inputs, training=True)["logits"] for _ in range(2))
    assert float(tf.reduce_max(tf.abs(a - b))) > 0
    np.testing.assert_array_equal(model(inputs, training=False)["logits"],
                                  model(inputs, training=False)["logits"])


def test_resnet_encoder_freezes_stem_and_conv2_and_loads_a_local_weights_file(tmp_path):
    """A keras.applications weights file (here: a seeded random ResNet50 saved locally, as a user
    would save the ImageNet one) loads into the encoder, which adds torch->caffe input conversion
    and adaptive pooling around it."""
    keras.utils.set_random_seed(3)
    resnet = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    path = str(tmp_path / "resnet50_notop.weights.h5")
    resnet.save_weights(path)
    encoder = build_encoder("resnet50", 64, encoded_size=2, weights=path)
    image = tf.random.normal([2, 64, 64, 3])
    expected = tf.reshape(keras.layers.AdaptiveAveragePooling2D(2)(resnet(TorchToCaffe()(image))),
                          [2, 4, 2048])
    np.testing.assert_allclose(encoder(image), expected, atol=1e-4)
    trainable = {layer.name.split("_")[0] for layer in encoder.layers
                 if layer.trainable and layer.weights}
    assert trainable == {"conv3", "conv4", "conv5"}
    random_init = build_encoder("resnet50", 64, encoded_size=2, weights=None)
    assert float(tf.reduce_max(tf.abs(random_init(image) - expected))) > 1e-3


def test_torch_normalised_input_becomes_caffe_bgr():
    torch_normalised = (np.array([[[[0.2, 0.4, 0.6]]]]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    caffe = TorchToCaffe()(tf.constant(torch_normalised, tf.float32)).numpy().reshape(3)
    np.testing.assert_allclose(caffe, [0.6 * 255 - 103.939, 0.4 * 255 - 116.779, 0.2 * 255 - 123.68],
                               atol=1e-3)


def test_hessian_vector_products_through_the_time_loop_match_finite_differences(model):
    """Stage 4 differentiates the captioner's gradient again (nested tapes through the in-graph
    time loop); the exact Hessian-vector product must agree with central differences."""
    from caption_aug.models.captioner import caption_loss, teacher_forcing
    inputs = _inputs(batch=2, length=6, seed=3)
    decoder_in, targets, mask = teacher_forcing(inputs["tokens"], tf.ones_like(inputs["tokens"]) > 0)
    soft_targets = tf.nn.softmax(tf.one_hot(targets, VOCAB) * 4.0)
    non_trainable = [tf.identity(v) for v in model.non_trainable_variables]
    weights = [tf.identity(v) for v in model.trainable_variables]
    rng = np.random.default_rng(0)
    # Decoder directions only: central differences across the CNN's ReLU kinks are not smooth.
    decoder_ids = {id(v) for v in model.decoder.trainable_variables}
    direction = [tf.constant(rng.normal(size=w.shape) * (id(v) in decoder_ids), tf.float32)
                 for w, v in zip(weights, model.trainable_variables)]

    def gradient(weights):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            out, _ = model.stateless_call(weights, non_trainable,
                                          {"image": inputs["image"], "tokens": decoder_in},
                                          training=False)
            loss = caption_loss(out["logits"], soft_targets, mask, out.get("alphas"), 1.0).total
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, weights)]  # dense embedding

    with tf.GradientTape() as outer:
        outer.watch(weights)
        inner = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(gradient(weights), direction)])
    exact = np.concatenate([tf.convert_to_tensor(h).numpy().ravel()
                            for h in outer.gradient(inner, weights)])
    eps = 1e-2
    plus = gradient([w + eps * v for w, v in zip(weights, direction)])
    minus = gradient([w - eps * v for w, v in zip(weights, direction)])
    numeric = np.concatenate([((p - m) / (2 * eps)).numpy().ravel() for p, m in zip(plus, minus)])
    cosine = exact @ numeric / (np.linalg.norm(exact) * np.linalg.norm(numeric))
    assert cosine > 0.99, cosine
    assert np.linalg.norm(exact - numeric) < 0.1 * np.linalg.norm(exact)


def test_decoding_step_by_step_equals_teacher_forcing(model):
    """`start_decoding` + `decode_step` (beam search's interface; the transformer's key/value
    caches) give the teacher-forced logits of the same words, position by position."""
    inputs = _inputs()
    logits = model(inputs, training=False)["logits"]
    features = model.encoder(inputs["image"], training=False)
    context, state = model.decoder.start_decoding(features, 1, 7)
    for t in range(7):
        step_logits, state, alpha = model.decoder.decode_step(context, inputs["tokens"][:, t],
                                                              state, t)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-4)
        assert alpha.shape == (3, 16 if model.decoder.has_attention else 0)


_EVERY_OPTION = [dict(small_cnn_stem=4, position_channels=True, relation_head=True,
                      deep_output=True, attention_coverage=True),
                 dict(TRANSFORMER, position_channels=True)]


@pytest.mark.parametrize("overrides", _EVERY_OPTION, ids=["lstm_attention", "transformer"])
def test_a_checkpoint_restores_every_variable(overrides, tmp_path):
    """A stage checkpoint holds every weight: layers kept in lists included (the transformer's
    blocks; tf.train.Checkpoint does not follow Keras' lists by itself)."""
    model = build_captioner(tiny_captioner_config(**overrides), VOCAB, IMAGE_SIZE)
    for variable in model.variables:  # away from any initial value
        variable.assign(variable + 0.1)
    path = checkpoints.Checkpointer(str(tmp_path), {"model": model}).save(1)
    fresh = build_captioner(tiny_captioner_config(**overrides), VOCAB, IMAGE_SIZE)
    checkpoints.restore_into(path, {"model": fresh})
    assert len(fresh.variables) == len(model.variables)
    for saved, restored in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy(), err_msg=saved.path)


@pytest.mark.parametrize("overrides", _EVERY_OPTION, ids=["lstm_attention", "transformer"])
def test_captioner_config_round_trips_to_the_same_model(overrides):
    """`get_config` / `from_config` rebuild the captioner (encoder, decoder and every option of
    theirs); with the original's weights the copy computes the same outputs."""
    keras.utils.set_random_seed(3)
    model = build_captioner(tiny_captioner_config(**overrides), VOCAB, IMAGE_SIZE)
    config = model.get_config()
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert copy.get_config() == config
    copy.set_weights(model.get_weights())
    inputs = _inputs()
    for key, value in model(inputs, training=False).items():
        np.testing.assert_allclose(copy(inputs, training=False)[key], value, rtol=1e-5, atol=1e-6)
