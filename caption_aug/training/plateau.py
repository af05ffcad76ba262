"""Early stopping and learning-rate decay on a plateau of a validation metric (higher is better).

As the Show-Attend-Tell reference schedules them: the learning rates are multiplied by a factor
each time `decay_patience` more epochs pass without a gain, and training stops after
`stop_patience` epochs without one. The counters are tf.Variables so a checkpoint resumes them.
"""

import tensorflow as tf


class Plateau:
    """Counts epochs since the best value of a metric; says when to decay and when to stop."""

    def __init__(self, decay_patience: int, stop_patience: int):
        self.decay_patience = decay_patience
        self.stop_patience = stop_patience
        self.best = tf.Variable(float("-inf"), trainable=False, name="best")
        self.epochs_since_improvement = tf.Variable(0, dtype=tf.int64, trainable=False,
                                                    name="epochs_since_improvement")

    def update(self, value: float) -> tuple:
        """Records an epoch's metric; returns (improved, decay_now)."""
        if value > float(self.best.numpy()):
            self.best.assign(value)
            self.epochs_since_improvement.assign(0)
            return True, False
        self.epochs_since_improvement.assign_add(1)
        return False, int(self.epochs_since_improvement.numpy()) % self.decay_patience == 0

    @property
    def should_stop(self) -> bool:
        return int(self.epochs_since_improvement.numpy()) >= self.stop_patience

    def trackables(self) -> dict:
        """The state to put in a checkpoint."""
        return {"best_metric": self.best, "epochs_since_improvement": self.epochs_since_improvement}
