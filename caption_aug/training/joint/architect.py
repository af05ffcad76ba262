"""The update of A (caption weights) and B (discriminator architecture) from the captioner's
validation hypergradient, held whole in one short class as DARTS' `architect.py` holds its own:
the virtual step's rates, the method, the two optimisers, the non-finite guard and the ablation
switches that freeze A or B."""

import contextlib

import keras
import tensorflow as tf

from caption_aug import config_schema
from caption_aug import distribute
from caption_aug import guard as guard_lib
from caption_aug.models.second_order import second_order_moments
from caption_aug.training.joint import hypergradient

# Adam's epsilon for B: hypergradients carry the product of the virtual learning rates (about 1e-7
# at the default rates), far below Adam's usual 1e-7 epsilon; with this one Adam steps by the
# direction alone.
HYPER_EPSILON = 1e-30


def batch_normalised(gradient: tf.Tensor) -> tf.Tensor:
    """A's hypergradient divided by its root mean square over the captions it touches (the
    iteration's LM batch; zero stays zero): scale-free, as the virtual rates' product (~1e-7) asks,
    but each a_i's step keeps its size relative to its batch's. Adam, per coordinate, kept only the
    sign of an a_i's one or two hypergradients, so a_i ranked captions by when they were seen."""
    touched = tf.reduce_sum(tf.cast(tf.not_equal(gradient, 0.0), gradient.dtype))
    mean_square = tf.reduce_sum(tf.square(gradient)) / tf.maximum(touched, 1.0)
    return tf.math.divide_no_nan(gradient, tf.sqrt(mean_square))


class Architect:
    """`hypergradients(problem, W, G, E, A, B)` then, after the iteration's stage updates,
    `update(grads)`: A <- A - lr batch_normalised(dL_val/dA), B <- B - Adam(dL_val/dB), each
    unless frozen (`joint.update_caption_weights`, `joint.update_architecture`)."""

    def __init__(self, config, weight_logits, arch_weights):
        joint = config.joint
        self.joint = joint
        self.weight_logits = weight_logits
        self.arch_weights = arch_weights
        self.rates = hypergradient.Rates(
            captioner_lr=config_schema.joint_captioner(config).decoder_lr,
            lm_lr=config.lm.learning_rate,
            generator_lr=config.gan.generator_lr, synthetic_weight=joint.synthetic_weight,
            real_weight=joint.real_weight)
        self.caption_weights_optimizer = keras.optimizers.SGD(
            joint.caption_weights_lr, name="caption_weights_sgd")
        self.architecture_optimizer = keras.optimizers.Adam(
            joint.architecture_lr, beta_1=0.5, beta_2=0.999, epsilon=HYPER_EPSILON,
            weight_decay=joint.architecture_weight_decay or None, name="architecture_adam")
        self.caption_weights_optimizer.build([weight_logits])
        self.architecture_optimizer.build([arch_weights])
        self.guard = guard_lib.NonFiniteGuard(  # its virtual steps use the stage rates
            "joint_hypergradient", config.max_consecutive_skips,
            "joint.epsilon_scale or the virtual steps' rates "
            "(joint.captioner_lr or captioner.decoder_lr, lm.learning_rate, gan.generator_lr)")

    def hypergradients(self, problem: hypergradient.Problem, W, G, E, A, B
                       ) -> hypergradient.Hypergradients:
        """dL_val/dA and dL_val/dB by `joint.hypergradient` from the weights (W, G, E, A, B);
        `exact` with batch moments right to the second derivative (its nested tapes need them)."""
        exact = self.joint.hypergradient == "exact"
        with second_order_moments() if exact else contextlib.nullcontext():
            return hypergradient.compute(self.joint.hypergradient, problem, W, G, E, A, B,
                                         self.rates, epsilon_scale=self.joint.epsilon_scale)

    @staticmethod
    def figures(grads: hypergradient.Hypergradients) -> dict:
        return {**{f"hypergradient/{k}": v for k, v in grads.stats.items()},
                "hypergradient/a_norm": tf.norm(grads.a),
                "hypergradient/b_norm": tf.norm(grads.b)}

    def update(self, grads: hypergradient.Hypergradients) -> None:
        """The guarded A and B updates (skipped, and counted, when a hypergradient is not
        finite), in the cross-replica context: on every replica, applied once."""
        gradients = [batch_normalised(grads.a), grads.b]
        self.guard.apply(None, [grads.a, grads.b],
                         lambda: distribute.apply_everywhere(self._apply, gradients))

    def _apply(self, gradients) -> None:
        caption_weights, architecture = gradients
        if self.joint.update_caption_weights:
            self.caption_weights_optimizer.apply([caption_weights], [self.weight_logits])
        if self.joint.update_architecture:
            self.architecture_optimizer.apply([architecture], [self.arch_weights])
