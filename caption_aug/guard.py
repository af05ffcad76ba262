"""The non-finite guard every custom training step goes through.

A step whose loss or gradient is not finite (an overflowing learning rate, a bad batch) must not
reach the weights: `NonFiniteGuard.apply` runs the step's updates only when everything is finite;
otherwise it restores the state the forward pass changed (batch-norm statistics, dropout seeds;
see `snapshot`) and counts the skip. After `max_consecutive` skips in a row `check` stops the run
with one line naming the stage and the config keys most likely to blame.

Under `mixed_float16` the guard also holds the step's dynamic loss scale (`DynamicLossScale`):
gradients are taken of the scaled loss and unscaled (`NonFiniteGuard.gradients`), an overflowing
step is skipped and counted like any non-finite one and halves the scale.

`NonFiniteGuard.update` is a whole step in this shape, under any tf.distribute strategy.
"""

from typing import Callable, Optional, Sequence

import keras
import tensorflow as tf

from caption_aug import distribute


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


class DynamicLossScale:
    """The loss scale float16 gradients need, on the schedule of Keras' LossScaleOptimizer (start
    at 2^15, halve on a non-finite step, double after `growth_interval` finite ones in a row).
    Hand-written because a stage's guard already skips non-finite steps and the captioner's two
    optimisers must share one scale: the optimizer wrapper would do both a second time, apart."""

    def __init__(self, name: str, initial: float = 2.0 ** 15, growth_interval: int = 2000):
        self.growth_interval = growth_interval
        self.scale = tf.Variable(initial, dtype=tf.float32, trainable=False,
                                 name=f"{name}_loss_scale")
        self.finite_steps = tf.Variable(0, dtype=tf.int64, trainable=False,
                                        name=f"{name}_loss_scale_finite_steps")

    def update(self, finite) -> None:
        grow = tf.logical_and(finite, self.finite_steps + 1 >= self.growth_interval)
        self.scale.assign(tf.where(grow, self.scale * 2.0,
                                   tf.where(finite, self.scale, tf.maximum(self.scale / 2.0, 1.0))))
        self.finite_steps.assign(tf.where(finite & ~grow, self.finite_steps + 1,
                                          tf.zeros_like(self.finite_steps)))


class NonFiniteGuard:
    """Counts a stage's skipped steps (checkpointed with the stage) and applies only finite ones;
    under the `mixed_float16` policy (at construction) it also scales the loss."""

    def __init__(self, stage: str, max_consecutive: int, likely_keys: str):
        self.stage = stage
        self.max_consecutive = max_consecutive
        self.likely_keys = likely_keys
        self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name=f"{stage}_skipped")
        self.consecutive = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name=f"{stage}_consecutive_skipped")
        self.loss_scale = (DynamicLossScale(stage)
                           if keras.config.dtype_policy().name == "mixed_float16" else None)

    def trackables(self) -> dict:
        scale = ({} if self.loss_scale is None else
                 {"loss_scale": self.loss_scale.scale,
                  "loss_scale_finite_steps": self.loss_scale.finite_steps})
        return {"skipped": self.skipped, "consecutive_skipped": self.consecutive, **scale}

    def gradients(self, tape: tf.GradientTape, loss, variables):
        """`tape.gradient(loss, variables)`, through the loss scale when there is one (the scale
        enters as the loss's output gradient, so the loss itself stays unscaled)."""
        if self.loss_scale is None:
            return tape.gradient(loss, variables)
        scale = tf.cast(self.loss_scale.scale, loss.dtype)
        gradients = tape.gradient(loss, variables, output_gradients=scale)
        return tf.nest.map_structure(lambda g: distribute.scaled(g, 1.0 / scale), gradients)

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
        if self.loss_scale is not None:
            self.loss_scale.update(finite)
        self.skipped.assign_add(skipped)
        self.consecutive.assign((self.consecutive + skipped) * skipped)
        return finite

    def update(self, loss_fn: Callable, args: tuple, variables: Sequence, state: Sequence,
               apply_fn: Callable, transform: Callable = lambda gradients: gradients):
        """Inside a tf.function: one guarded step. `loss_fn(*args) -> (loss, figures)` runs under
        a tape on every replica with its share of `args` (per-replica values under a strategy:
        `distribute.replicated_update`); the gradients of `variables`, summed over the replicas
        and `transform`ed (clipping), go to `apply_fn(gradients)` on every replica when the loss
        and the raw gradients are finite; else `state` (batch-norm statistics, dropout seeds)
        gets back its values from before the step. Returns (applied, figures summed over the
        replicas)."""
        before = snapshot(state)

        def replica_gradients(*replica_args):
            with tf.GradientTape() as tape:
                loss, figures = loss_fn(*replica_args)
            return self.gradients(tape, loss, variables), (loss, figures)

        raw_gradients, (loss, figures), apply = distribute.replicated_update(
            replica_gradients, args, apply_fn)
        gradients = transform(raw_gradients)
        applied = self.apply(loss, raw_gradients,  # a transform such as clipping hides NaNs
                             lambda: apply(gradients), lambda: restore(state, before))
        return applied, figures

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
