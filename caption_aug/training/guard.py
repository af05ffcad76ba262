"""The non-finite guard every custom training step goes through.

A step whose loss or gradient is not finite (an overflowing learning rate, a bad batch) must not
reach the weights: `NonFiniteGuard.apply` runs the step's updates only when everything is finite;
otherwise it restores the state the forward pass changed (batch-norm statistics, dropout seeds;
see `snapshot`) and counts the skip. After `max_consecutive` skips in a row `check` stops the run
with one line naming the stage and the config keys most likely to blame.
"""

from typing import Callable, Optional, Sequence

import tensorflow as tf


class NonFiniteError(ValueError):
    """A stage kept producing non-finite steps: training it further would change nothing."""


def all_finite(loss, gradients: Sequence) -> tf.Tensor:
    """True when the loss (if any) and every (non-None) gradient are finite."""
    checks = [tf.reduce_all(tf.math.is_finite(t)) for t in [loss, *gradients] if t is not None]
    return tf.reduce_all(tf.stack(checks))


def snapshot(variables: Sequence) -> list:
    """The values of `variables` now (inside a tf.function: before the forward pass changes them)."""
    return [tf.identity(v) for v in variables]


def restore(variables: Sequence, values: Sequence) -> None:
    for variable, value in zip(variables, values):
        variable.assign(value)


class NonFiniteGuard:
    """Counts a stage's skipped steps (checkpointed with the stage) and applies only finite ones."""

    def __init__(self, stage: str, max_consecutive: int, likely_keys: str):
        self.stage = stage
        self.max_consecutive = max_consecutive
        self.likely_keys = likely_keys
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"{stage}_skipped")
        self.consecutive = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name=f"{stage}_consecutive_skipped")

    def trackables(self) -> dict:
        return {"skipped": self.skipped, "consecutive_skipped": self.consecutive}

    def apply(self, loss, gradients: Sequence, updates: Callable[[], None],
              on_skip: Optional[Callable[[], None]] = None) -> tf.Tensor:
        """Inside a tf.function: `updates()` if `loss` and `gradients` are finite, else `on_skip()`
        (e.g. `restore` of a `snapshot`); returns whether the step was applied."""
        finite = all_finite(loss, gradients)

        def apply_updates():
            updates()
            return tf.constant(0, tf.int64)

        def skip():
            if on_skip is not None:
                on_skip()
            return tf.constant(1, tf.int64)

        skipped = tf.cond(finite, apply_updates, skip)
        self.skipped.assign_add(skipped)
        self.consecutive.assign((self.consecutive + skipped) * skipped)
        return finite

    def check(self) -> None:
        """In the training loop, after a step: raises NonFiniteError after too many skips in a row."""
        if int(self.consecutive.numpy()) >= self.max_consecutive:
            raise NonFiniteError(
                f"stage {self.stage}: {int(self.consecutive.numpy())} training steps in a row had a "
                f"non-finite loss or gradient and were skipped; lower {self.likely_keys} "
                "(max_consecutive_skips sets the limit)")

    @property
    def skipped_steps(self) -> int:
        return int(self.skipped.numpy())
