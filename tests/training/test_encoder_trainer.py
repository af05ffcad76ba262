"""`--mode=train_encoder` on a tiny caption_shapes set: retrieval beats chance clearly after a short
run, metrics and TensorBoard events are written, a rerun resumes, and the frozen encoder reloads."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from caption_aug import config_schema
from caption_aug.training import encoder_trainer
from caption_aug.workdir import trained
from tests.training.test_lm_trainer import event_tags


def tiny_config():
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=200, validation_size=40, test_size=10,
                                           resolution=32))
    config.pipeline.encoder_image_size = 32
    config.tokenizer.vocab_size = 300
    config.encoder.update(dict(embedding_dim=64, token_embedding_dim=32, rnn_units=64,
                               learning_rate=3e-3, epochs=5, log_every_steps=20))
    return config


@pytest.mark.slow
def test_short_run_beats_chance_and_resumes(tmp_path):
    config = tiny_config()
    workdir = str(tmp_path)
    metrics = encoder_trainer.run_mode(config, workdir)
    assert metrics["epochs"] == 5
    # 40 validation images, 5 captions each: chance text->image R@5 is 5/40, R@1 1/40.
    assert metrics["text_to_image_r5"] > 2.0 * metrics["chance_text_to_image_r5"]
    assert metrics["image_to_text_r5"] > 2.0 * metrics["chance_image_to_text_r5"]
    assert metrics["text_to_image_r1"] > 2.0 * metrics["chance_text_to_image_r1"]
    with open(os.path.join(workdir, "encoder", "metrics.json")) as f:
        assert json.load(f) == pytest.approx(metrics)
    assert {"train/contrastive_loss", "validation/text_to_image_r5"} <= event_tags(
        os.path.join(workdir, "tensorboard", "encoder"))

    frozen = trained.load_trained_encoder(config, workdir, 300)
    assert not frozen.trainable_variables
    resumed = encoder_trainer.build_step(config, 300)
    position, _ = encoder_trainer.epochs.resume(workdir, "encoder", resumed.checkpoint_objects())
    assert position.epochs_done == 5
    for a, b in zip(frozen.weights, resumed.encoder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    ids = tf.constant([[0, 5, 6, 0]], tf.int32)
    mask = tf.ones([1, 4], tf.bool)
    np.testing.assert_allclose(frozen.embed_text(ids, mask), resumed.encoder.embed_text(ids, mask))


def test_image_pretraining_teaches_colours_once_per_workdir(tmp_path):
    """`encoder.image_pretrain_steps`: the image side learns colours before the contrastive
    epoch, and a resumed run does not pretrain again. (That a barely trained network reads
    colours at chance through the same `pretrain_attributes` is test_encoder_pretraining's.)"""
    config = tiny_config()
    config.data.caption_shapes.update(dict(train_size=300, validation_size=60))
    config.encoder.update(dict(epochs=1, steps_per_epoch=2, image_pretrain_steps=120))
    workdir = str(tmp_path)
    pretrained = encoder_trainer.run_mode(config, workdir)["image_pretraining"]
    assert pretrained["steps"] == 120 and pretrained["seconds"] > 0
    assert pretrained["validation_accuracy"]["colour"] > 1 / 8 + 0.4, pretrained

    longer = config.copy_and_resolve_references()
    longer.encoder.epochs = 2
    resumed = encoder_trainer.run_mode(longer, workdir)
    assert resumed["epochs"] == 2 and resumed["image_pretraining"] == pretrained
