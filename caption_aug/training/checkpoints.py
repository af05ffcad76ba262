"""Checkpoints of a training stage: the latest full state (to resume) and the best weights so far.

`WORKDIR/<stage>/latest/` holds everything a rerun needs to continue (model, optimisers, counters);
`WORKDIR/<stage>/best/` holds the objects that scored best on the stage's selection metric. Both are
`tf.train.Checkpoint`s, which track Keras 3 models, optimisers and tf.Variables on TensorFlow.
"""

import os
from typing import Optional

import tensorflow as tf
from absl import logging


class StageCheckpoints:
    """Latest state for resuming and best objects for evaluation/export, under one stage folder."""

    def __init__(self, stage_dir: str, state: dict, best: dict):
        self.stage_dir = stage_dir
        self._latest = tf.train.CheckpointManager(
            tf.train.Checkpoint(**state), os.path.join(stage_dir, "latest"), max_to_keep=1)
        self._best = tf.train.CheckpointManager(
            tf.train.Checkpoint(**best), os.path.join(stage_dir, "best"), max_to_keep=1)

    def restore_latest(self) -> bool:
        """Restores the latest state if there is one; True when it resumed."""
        path = self._latest.latest_checkpoint
        if path:
            self._latest.checkpoint.restore(path).assert_existing_objects_matched()
            logging.info("resumed from %s", path)
        return bool(path)

    def save_latest(self, step: int) -> str:
        return self._latest.save(checkpoint_number=step)

    def save_best(self, step: int) -> str:
        return self._best.save(checkpoint_number=step)


def resume_or_start(checkpoint: tf.train.Checkpoint, directory: str,
                    max_to_keep: int = 2) -> tf.train.CheckpointManager:
    """A manager saving `checkpoint` under `directory`, after restoring its latest save if any."""
    manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        logging.info("resumed from %s", manager.latest_checkpoint)
    return manager


def restore_best(stage_dir: str, **objects) -> str:
    """Loads the best checkpoint of a stage into `objects` (e.g. model=...); its path, or raises
    FileNotFoundError naming the folder when the stage has not been trained there."""
    path = latest_in(os.path.join(stage_dir, "best"))
    if not path:
        raise FileNotFoundError(f"no trained checkpoint in {os.path.join(stage_dir, 'best')}: "
                                "run the stage's training mode with this workdir first")
    tf.train.Checkpoint(**objects).restore(path).expect_partial().assert_existing_objects_matched()
    return path


def latest_in(directory: str) -> Optional[str]:
    return tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
