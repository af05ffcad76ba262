"""Where an epoch-based stage is in its schedule, kept in its checkpoint for step-exact resume.

Each epoch's batch order is a pure function of (seed, epoch) (`epoch_seed`), and the position
counts the batches of the current epoch already taken, so a run resumed from a mid-epoch
checkpoint skips exactly those and goes on with the batch an uninterrupted run would take next.
"""

import tensorflow as tf

from caption_aug import progress
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout


def steps_per_epoch(items: int, batch_size: int, configured: int) -> int:
    """Batches in one epoch: `configured` when set, else (about, with bucketing) items / batch."""
    return configured or max(1, items // batch_size)


def schedule_meter(name: str, train_captions: int, batch_size: int, stage_config,
                   position: "EpochPosition") -> progress.Progress:
    """The progress line of a stage's `stage_config.epochs` epochs (of `steps_per_epoch`
    batches each), counting from where `position` stands."""
    per_epoch = steps_per_epoch(train_captions, batch_size, stage_config.steps_per_epoch)
    return progress.Progress(name, stage_config.epochs * per_epoch, done=position.steps_done)


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch's training batches."""
    return seed * 1000 + epoch


class EpochPosition:
    """Finished epochs, the batches of the current one already taken, and all batches taken."""

    def __init__(self):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="step_in_epoch")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def trackables(self) -> dict:
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "step": self.step}

    @property
    def epochs_done(self) -> int:
        return int(self.epoch.numpy())

    @property
    def steps_done(self) -> int:
        return int(self.step.numpy())

    def rest_of_epoch(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        """This epoch's batches (`dataset`, built with `epoch_seed`) not yet taken."""
        return dataset.skip(int(self.step_in_epoch.numpy()))

    def batch_done(self) -> None:
        self.step_in_epoch.assign_add(1)
        self.step.assign_add(1)

    def epoch_done(self) -> None:
        self.epoch.assign_add(1)
        self.step_in_epoch.assign(0)


def resume(workdir: str, stage: str, objects: dict) -> tuple:
    """(EpochPosition, Checkpointer of `objects` and the position under the stage's checkpoint
    folder), both restored from its latest save if there is one."""
    position = EpochPosition()
    checkpointer = checkpoints.resume_or_start(layout.checkpoint_dir(workdir, stage),
                                               dict(**objects, **position.trackables()))
    return position, checkpointer
