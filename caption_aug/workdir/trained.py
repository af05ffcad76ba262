"""The trained models a workdir holds, built from config and restored from their stage's
checkpoint, for the later stages, evaluation and export. Each raises FileNotFoundError naming
the mode to run when its stage has not been trained in the workdir."""

import tensorflow as tf
from absl import logging

from caption_aug.models import caption_lm
from caption_aug.models import sentence_encoder
from caption_aug.models.captioner import build_captioner
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout


def load_trained_encoder(config, workdir: str, vocabulary_size: int
                         ) -> sentence_encoder.SentenceEncoder:
    """The sentence encoder, frozen (`trainable = False`), for the GAN and stage 4."""
    encoder = sentence_encoder.build_sentence_encoder(
        config.encoder, vocabulary_size, config.pipeline.encoder_image_size)
    checkpoints.restore_stage(workdir, layout.ENCODER, dict(encoder=encoder))
    encoder.trainable = False
    return encoder


def load_trained_lm(config, workdir: str, vocabulary_size: int, num_train_captions: int):
    """(caption LM, caption weight logits A)."""
    model = caption_lm.build_caption_lm(config.lm, vocabulary_size)
    weight_logits = tf.Variable(tf.zeros([num_train_captions]), trainable=False,
                                name="caption_weight_logits")
    checkpoints.restore_stage(workdir, layout.LM,
                              dict(model=model, caption_weight_logits=weight_logits))
    return model, weight_logits


def _captioner(config, vocabulary_size: int):
    return build_captioner(config.captioner, vocabulary_size, config.pipeline.captioner_image_size)


def load_trained_captioner(config, workdir: str, vocabulary_size: int):
    """The warm-up captioner with its best weights (by `captioner.select_by`)."""
    model = _captioner(config, vocabulary_size)
    path = checkpoints.restore_stage(workdir, layout.CAPTIONER, dict(model=model), layout.BEST)
    logging.info("captioner weights from %s", path)
    return model


def load_joint_captioner(config, workdir: str, vocabulary_size: int):
    """The captioner as the joint phase left it (its latest checkpoint)."""
    model = _captioner(config, vocabulary_size)
    checkpoints.restore_stage(workdir, layout.JOINT, dict(captioner=model))
    return model


def has_checkpoint(workdir: str, stage: str) -> bool:
    """Whether the stage has saved anything to resume from in `workdir`."""
    return checkpoints.latest_in(layout.checkpoint_dir(workdir, stage)) is not None
