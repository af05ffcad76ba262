"""Checkpoints of a training stage, built one way for every stage.

A stage names what it saves as a dict (nested dicts become nested checkpoints); `checkpoint_of`
adds the Keras seed-generator states of every model in it, which `tf.train.Checkpoint` does not
reach (without them a resumed run draws other dropout masks than an uninterrupted one), and
`Checkpointer.save` refuses to write a non-finite variable. Every stage resumes from
`WORKDIR/<stage>/checkpoints/`; the captioner also keeps `best/` by its selection metric
(`StageCheckpoints`); `restore_stage` loads either into a later stage's models. In a multi-worker
run every worker saves its own and restores the chief's (`restore_from`).
"""

import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import distribute
from caption_aug.workdir import layout

SEED_STATES = "seed_states"
# This process's workdir -> the workdir its checkpoints are restored from (`restore_from`).
_RESTORE_ROOTS = {}


def restore_from(chief_workdir: str, workdir: str) -> None:
    """Makes this process restore every checkpoint under `workdir` from the same place under
    `chief_workdir`, while it still saves its own (a multi-worker run's worker other than the
    chief: see `distribute.worker_workdir`)."""
    _RESTORE_ROOTS[os.path.abspath(workdir)] = os.path.abspath(chief_workdir)


def _restored_from(directory: str) -> str:
    """The directory whose checkpoints stand for `directory`'s (`restore_from`)."""
    directory = os.path.abspath(directory)
    for own, chief in _RESTORE_ROOTS.items():
        if directory == own or directory.startswith(own + os.sep):
            return chief + directory[len(own):]
    return directory


def seed_states(model) -> list:
    """The state variables of the Keras seed generators (dropout and the like) of `model`."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


def checkpoint_of(objects: dict) -> tf.train.Checkpoint:
    """`objects` as a tf.train.Checkpoint, nested dicts as nested checkpoints, with the seed
    states of the Keras layers among them under `seed_states`."""
    children = {k: checkpoint_of(v) if isinstance(v, dict) else v for k, v in objects.items()}
    seeds = [v for obj in objects.values() if isinstance(obj, keras.layers.Layer)
             for v in seed_states(obj)]
    if seeds:
        children[SEED_STATES] = seeds
    return tf.train.Checkpoint(**children)


def _variables(obj, in_model: bool = False):
    """(variable, whether it belongs to a Keras layer or optimiser) for everything in `obj`."""
    if isinstance(obj, dict):
        for value in obj.values():
            yield from _variables(value)
    elif isinstance(obj, (keras.Variable, tf.Variable)):
        yield obj, in_model
    elif hasattr(obj, "variables"):  # Keras layers, models and optimisers
        for variable in obj.variables:
            yield variable, True


def non_finite_variables(objects: dict) -> list:
    """Paths of the floating-point variables in `objects` that cannot be saved: a NaN anywhere,
    an infinity in a model or optimiser (a stand-alone variable such as the best metric so far
    may start at -inf)."""
    bad = []
    for variable, in_model in _variables(objects):
        tf_variable = variable.value if isinstance(variable, keras.Variable) else variable
        value = np.asarray(tf_variable.numpy())   # a mirrored variable: its first copy
        if not np.issubdtype(value.dtype, np.floating):
            continue
        if np.isnan(value).any() or (in_model and not np.isfinite(value).all()):
            bad.append(getattr(variable, "path", variable.name))
    return bad


class Checkpointer:
    """Saves and restores one stage's `objects` under `directory` (the last `max_to_keep`)."""

    def __init__(self, directory: str, objects: dict, max_to_keep: int = 2):
        self.directory = directory
        self.objects = objects
        self.checkpoint = checkpoint_of(objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                                  max_to_keep=max_to_keep)

    def restore(self) -> bool:
        """Restores the latest save if there is one; True when it did."""
        path = latest_in(self.directory)
        if path:
            self.checkpoint.restore(path).assert_existing_objects_matched()
            logging.info("resumed from %s", path)
        return bool(path)

    def save(self, number: Optional[int] = None) -> str:
        """Writes a checkpoint; raises ValueError instead when a variable is not finite."""
        bad = non_finite_variables(self.objects)
        if bad:
            raise ValueError(f"not checkpointing {self.directory}: {len(bad)} variables hold NaN "
                             f"or infinity (first: {bad[0]})")
        path = self.manager.save(checkpoint_number=number)
        distribute.barrier()  # a multi-worker run: the chief's save is there before anyone reads it
        return path


def resume_or_start(directory: str, objects: dict, max_to_keep: int = 2) -> Checkpointer:
    """A Checkpointer of `objects` under `directory`, after restoring its latest save if any."""
    checkpointer = Checkpointer(directory, objects, max_to_keep)
    checkpointer.restore()
    return checkpointer


class StageCheckpoints:
    """A stage's resumable state in `checkpoints/` and its best objects (for evaluation and
    export) in `best/`."""

    def __init__(self, workdir: str, stage: str, state: dict, best: dict):
        self._latest = Checkpointer(layout.checkpoint_dir(workdir, stage), state, max_to_keep=1)
        self._best = Checkpointer(layout.checkpoint_dir(workdir, stage, layout.BEST), best,
                                  max_to_keep=1)

    def restore_latest(self) -> bool:
        return self._latest.restore()

    def save_latest(self, step: int) -> str:
        return self._latest.save(step)

    def save_best(self, step: int) -> str:
        return self._best.save(step)


def restore_into(path: str, objects: dict) -> None:
    """Loads the parts of the checkpoint at `path` that `objects` name (built as the stage built
    it, so seed states come along)."""
    checkpoint_of(objects).restore(path).expect_partial().assert_existing_objects_matched()


def restore_stage(workdir: str, stage: str, objects: dict, kind: str = layout.CHECKPOINTS) -> str:
    """Loads a stage's latest save (or, with kind BEST, its best) into `objects`; its path, or
    FileNotFoundError naming the folder and the mode that writes it."""
    directory = layout.checkpoint_dir(workdir, stage, kind)
    path = latest_in(directory)
    if not path:
        raise FileNotFoundError(f"no trained checkpoint of {stage} in {directory}: run "
                                f"--mode={layout.TRAINED_BY[stage]} with this workdir first")
    restore_into(path, objects)
    return path


def latest_in(directory: str) -> Optional[str]:
    """The latest checkpoint that stands for `directory`'s (`restore_from`), or None."""
    directory = _restored_from(directory)
    return tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
