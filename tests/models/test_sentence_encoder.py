"""The sentence encoder: int ids and soft one-hots agree, gradients reach the one-hots (and through
the LM's straight-through one-hots the LM), padding is ignored, the contrastive loss behaves."""

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from caption_aug.models import caption_lm
from caption_aug.models import sentence_encoder

VOCAB = 30
SIZE = 32


def encoder_config(**changes):
    return ml_collections.ConfigDict(dict(dict(
        embedding_dim=48, token_embedding_dim=16, rnn_units=24, rnn="gru",
        image_backbone="small_cnn", image_weights=""), **changes))


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(2)
    return sentence_encoder.build_sentence_encoder(encoder_config(), VOCAB, SIZE)


def captions():
    ids = np.array([[0, 5, 6, 7, 0, 1, 1], [0, 8, 9, 0, 1, 1, 1]], np.int32)
    return tf.constant(ids), tf.constant(ids != 1)


def test_one_hot_inputs_give_the_same_embedding_as_ids(encoder):
    ids, mask = captions()
    from_ids = encoder.embed_text(ids, mask)
    from_one_hots = encoder.embed_text(tf.one_hot(ids, VOCAB), mask)
    assert from_ids.shape == (2, 48)
    np.testing.assert_allclose(from_ids, from_one_hots, atol=1e-5)
    np.testing.assert_allclose(tf.norm(from_ids, axis=-1), 1.0, rtol=1e-5)


def test_padding_is_ignored(encoder):
    ids, mask = captions()
    longer_ids = tf.concat([ids, tf.fill([2, 3], 1)], axis=1)
    longer_mask = tf.concat([mask, tf.zeros([2, 3], tf.bool)], axis=1)
    np.testing.assert_allclose(encoder.embed_text(ids, mask),
                               encoder.embed_text(longer_ids, longer_mask), atol=1e-5)


def test_gradient_flows_into_soft_one_hots(encoder):
    ids, mask = captions()
    soft = tf.Variable(tf.one_hot(ids, VOCAB) * 0.9 + 0.1 / VOCAB)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder.embed_text(soft, mask)[:, :5])
    gradient = tape.gradient(loss, soft).numpy()
    assert np.abs(gradient[mask.numpy()]).sum() > 0
    assert np.all(gradient[~mask.numpy()] == 0)


def test_gradient_reaches_the_lm_through_straight_through_one_hots():
    """Stage 4's path: LM one-hots -> frozen encoder text embedding -> a loss -> LM weights."""
    keras.utils.set_random_seed(3)
    lm = caption_lm.build_caption_lm(ml_collections.ConfigDict(dict(
        preset="", num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0,
        max_sequence_length=16)), VOCAB)
    encoder = sentence_encoder.build_sentence_encoder(encoder_config(), VOCAB, SIZE)
    encoder.trainable = False
    ids, mask = captions()
    generated = mask.numpy() & (np.arange(7) >= 2)
    with tf.GradientTape() as tape:
        one_hots = caption_lm.straight_through_one_hots(lm, ids, mask, generated)
        out, _ = encoder.stateless_call(
            [v.value for v in encoder.trainable_variables],
            [v.value for v in encoder.non_trainable_variables],
            {"token_ids": one_hots, "padding_mask": mask})
        loss = tf.reduce_sum(out["text_embedding"] * tf.range(48, dtype=tf.float32))
    gradients = tape.gradient(loss, lm.trainable_variables)
    assert sum(float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g))))
               for g in gradients if g is not None) > 0


def test_images_alone_and_stateless_call(encoder):
    images = tf.random.stateless_uniform([3, SIZE, SIZE, 3], seed=[1, 2])
    out, non_trainable = encoder.stateless_call(
        [v.value for v in encoder.trainable_variables],
        [v.value for v in encoder.non_trainable_variables], {"image": images})
    assert set(out) == {"image_embedding"} and out["image_embedding"].shape == (3, 48)
    assert len(non_trainable) == len(encoder.non_trainable_variables)
    np.testing.assert_allclose(out["image_embedding"], encoder.embed_image(images), atol=1e-5)


def test_contrastive_loss_prefers_aligned_pairs_and_tolerates_duplicates():
    rng = np.random.default_rng(0)
    images = tf.math.l2_normalize(tf.constant(rng.normal(size=[4, 8]), tf.float32), axis=-1)
    index = tf.constant([0, 1, 2, 3])
    aligned = sentence_encoder.contrastive_loss(images, images, index, 0.1)
    shuffled = sentence_encoder.contrastive_loss(images, tf.gather(images, [1, 2, 3, 0]), index,
                                                 0.1)
    assert aligned < 0.5 < shuffled
    # Two captions of image 0 in the batch: both are right (target 1/2 each), so a perfect match
    # costs only the targets' entropy, log 2, on the two rows of image 0 (and as much per column).
    duplicated = tf.stack([images[0], images[0], images[1]])
    loss = sentence_encoder.contrastive_loss(duplicated, duplicated, tf.constant([0, 0, 1]), 1e-3)
    np.testing.assert_allclose(loss, 2 / 3 * np.log(2), rtol=1e-4)


def test_applications_backbone_loads_a_local_weights_file(tmp_path):
    keras.utils.set_random_seed(4)
    source = keras.applications.MobileNetV2(include_top=False, pooling="avg", weights=None,
                                            input_shape=(SIZE, SIZE, 3), alpha=1.0)
    path = str(tmp_path / "mobilenet.weights.h5")
    source.save_weights(path)
    encoder = sentence_encoder.build_sentence_encoder(
        encoder_config(image_backbone="MobileNetV2", image_weights=path), VOCAB, SIZE)
    images = tf.random.stateless_uniform([2, SIZE, SIZE, 3], seed=[3, 4])
    np.testing.assert_allclose(encoder.image_features(images), source(images), atol=1e-5)
    with pytest.raises(ValueError, match="encoder.image_backbone"):
        sentence_encoder.build_sentence_encoder(encoder_config(image_backbone="VGG99"), VOCAB, SIZE)


def test_config_round_trips_to_the_same_encoder(encoder):
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder))
    assert copy.get_config() == encoder.get_config()
    copy.set_weights(encoder.get_weights())
    ids, mask = captions()
    np.testing.assert_allclose(copy.embed_text(ids, mask), encoder.embed_text(ids, mask),
                               rtol=1e-5, atol=1e-6)
    images = tf.random.uniform([2, SIZE, SIZE, 3], seed=4)
    np.testing.assert_allclose(copy.embed_image(images), encoder.embed_image(images),
                               rtol=1e-5, atol=1e-6)
