"""The real-only control arm of `--mode=all`: what the captioner gets without synthetic pairs.

From the same warm-up checkpoint as the joint phase, with fresh optimisers of the same settings
(`config_schema.joint_captioner`), the captioner takes exactly as many updates as the joint phase
gave it (one per joint iteration), on the same real batches (`joint_trainer.real_stream`), with no
synthetic loss. Comparing its test figures with the joint captioner's shows what the synthetic
pairs, A and B did, at equal updates. Checkpointed under `WORKDIR/captioner_control/checkpoints`
(resumes step-exactly).
"""

import os

import keras
import tensorflow as tf
from absl import logging

from caption_aug import config_schema
from caption_aug import distribute
from caption_aug import progress
from caption_aug.data import pipelines
from caption_aug.evaluation import captioner_eval
from caption_aug.training import captioner_trainer
from caption_aug.training.joint import trainer as joint_trainer
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout
from caption_aug.workdir import trained

STAGE = layout.CONTROL


def train(config, workdir: str, prepared):
    """Trains (or resumes) the control captioner to `joint.iterations` updates; (model, metrics)."""
    keras.utils.set_random_seed(config.seed)
    model = trained.load_trained_captioner(config, workdir, prepared.tokenizer.vocabulary_size)
    trainer = captioner_trainer.CaptionerStep(config_schema.joint_captioner(config), model,
                                              config.max_consecutive_skips, name=STAGE)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpointer = checkpoints.resume_or_start(layout.checkpoint_dir(workdir, STAGE),
                                               dict(**trainer.checkpoint_objects(), step=step))
    updates, every = config.joint.iterations, config.joint.checkpoint_every
    done = int(step.numpy())  # int() of a mirrored variable fails
    batches = joint_trainer.real_stream(
        config, pipelines.Datasets(config, prepared.splits, prepared.tokenizer), done=done)
    logging.info("control arm: %d real-only captioner updates from the warm-up checkpoint", updates)
    meter = progress.Progress("control arm", updates, done=done)
    while done < updates:
        trainer.train_step(distribute.split_batch(next(batches)))
        trainer.guard.check()
        step.assign_add(1)
        done += 1
        meter.update(done)
        if done % every == 0 or done == updates:
            checkpointer.save(done)
    return model, {"updates": done, "skipped_steps": trainer.guard.skipped_steps}


def evaluate(config, workdir: str, prepared) -> dict:
    """Trains the control arm, then its test evaluation (as the before/after captioners get)."""
    model, figures = train(config, workdir, prepared)
    metrics = captioner_eval.evaluate_test(config, workdir, prepared, model,
                                           out_dir=os.path.join(workdir, "evaluation", STAGE))
    return {**figures, **metrics}
