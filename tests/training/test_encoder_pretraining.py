"""The captioner's encoder pretraining on caption_shapes: it teaches the encoder to read colours
of single-object images (a barely trained one reads them at chance) and, optionally, to find
(colour, shape) pairs in multi-object scenes; it runs once before the first captioner step, and
is not repeated when training resumes."""

import pytest

from caption_aug.data import prepare
from caption_aug.models.captioner import build_captioner
from caption_aug.training import captioner_trainer
from caption_aug.training import encoder_pretraining
from configs import captioner_tiny

_CHANCE = 1 / 8   # colours
_PAIRS = 56       # (colour, shape) pairs: a blind guess finds about n of them among its n likeliest


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny captioner trained for 2 steps after 300 pretraining steps."""
    config = captioner_tiny.get_config()
    config.data.caption_shapes.update(dict(train_size=800, validation_size=300))
    config.captioner.update(dict(small_cnn_filters=(16, 32, 64), pretrain_steps=300, epochs=1,
                                 steps_per_epoch=2, validation_images=8))
    workdir = str(tmp_path_factory.mktemp("pretraining"))
    data = prepare.prepare(config, workdir)
    return config, workdir, data, captioner_trainer.train(config, workdir, data)


def test_pretraining_teaches_colours_that_a_barely_trained_encoder_does_not_read(trained):
    config, _, data, history = trained
    pretrained = history["encoder_pretraining"]
    assert pretrained["steps"] == 300 and pretrained["seconds"] > 0
    assert set(pretrained["validation_accuracy"]) == {"colour", "shape"}   # no object steps
    assert pretrained["validation_accuracy"]["colour"] > _CHANCE + 0.4, pretrained
    barely = config.copy_and_resolve_references()
    barely.captioner.pretrain_steps = 1
    encoder = build_captioner(barely.captioner, data.tokenizer.vocabulary_size,
                              barely.pipeline.captioner_image_size).encoder
    one_step = encoder_pretraining.pretrain(encoder, data, barely)
    assert one_step["validation_accuracy"]["colour"] < _CHANCE + 0.2, one_step


def test_resumed_training_keeps_the_pretrained_encoder_and_does_not_pretrain_again(trained):
    config, workdir, data, history = trained
    longer = config.copy_and_resolve_references()
    longer.captioner.epochs = 2
    resumed = captioner_trainer.train(longer, workdir, data)
    assert len(resumed["epochs"]) == 2
    assert resumed["encoder_pretraining"] == history["encoder_pretraining"]


def test_object_pretraining_finds_the_pairs_of_multi_object_scenes(trained):
    config, _, data, _ = trained
    found = {}
    for object_steps in (1, 300):
        cfg = config.copy_and_resolve_references()
        cfg.captioner.update(dict(pretrain_steps=1, pretrain_object_steps=object_steps))
        encoder = build_captioner(cfg.captioner, data.tokenizer.vocabulary_size,
                                  cfg.pipeline.captioner_image_size).encoder
        result = encoder_pretraining.pretrain(encoder, data, cfg)
        assert result["object_steps"] == object_steps
        found[object_steps] = result["validation_accuracy"]["objects"]
    assert found[1] < 0.1 and found[300] > found[1] + 0.1, found   # measured 0.05 and 0.21
