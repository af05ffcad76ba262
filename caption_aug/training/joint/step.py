"""Stage 4's joint iteration as one `tf.function`: the LM update, the GAN updates, the captioner
update on real + lambda * synthetic pairs, and the hypergradient update of A and B.

The hypergradient is computed first, from the weights before this iteration (docs/DESIGN.md
section 2: virtual steps start from them); the four updates follow in the design's order, so the
synthetic batch of the captioner update is drawn from the just-updated LM and generator.
"""

import dataclasses

import keras
import tensorflow as tf

from caption_aug.models import caption_lm
from caption_aug.models.captioner import loss as captioner_loss
from caption_aug.models.stateless import model_state
from caption_aug.training import guard as guard_lib
from caption_aug.training.joint import hypergradient
from caption_aug.training.joint import problem as joint_problem

HYPER_EPSILON = 1e-30


@dataclasses.dataclass
class Optimizers:
    lm: keras.optimizers.Optimizer
    captioner_encoder: keras.optimizers.Optimizer
    captioner_decoder: keras.optimizers.Optimizer
    caption_weights: keras.optimizers.Optimizer       # A
    architecture: keras.optimizers.Optimizer          # B


def build_optimizers(config, models: joint_problem.JointModels, weight_logits) -> Optimizers:
    """Fresh optimisers for the joint phase, with each stage's settings. A and B use Adam with a
    negligible epsilon: hypergradients carry the product of the virtual learning rates (about
    1e-7 at the default rates), far below Adam's usual 1e-7 epsilon, and Adam then steps by the
    direction alone."""
    lm, cap, joint = config.lm, config.captioner, config.joint
    optimizers = Optimizers(
        lm=keras.optimizers.AdamW(lm.learning_rate, weight_decay=lm.weight_decay,
                                  global_clipnorm=lm.gradient_clip_norm, name="lm_adamw"),
        captioner_encoder=keras.optimizers.Adam(cap.encoder_lr, name="captioner_encoder_adam"),
        captioner_decoder=keras.optimizers.Adam(cap.decoder_lr, name="captioner_decoder_adam"),
        caption_weights=keras.optimizers.Adam(joint.caption_weights_lr, epsilon=HYPER_EPSILON,
                                              name="caption_weights_adam"),
        architecture=keras.optimizers.Adam(
            joint.architecture_lr, beta_1=0.5, beta_2=0.999, epsilon=HYPER_EPSILON,
            weight_decay=joint.architecture_weight_decay or None, name="architecture_adam"))
    optimizers.lm.build(models.lm.trainable_variables)
    optimizers.captioner_encoder.build(models.captioner.encoder.trainable_variables)
    optimizers.captioner_decoder.build(models.captioner.decoder.trainable_variables)
    optimizers.caption_weights.build([weight_logits])
    optimizers.architecture.build([models.discriminator.arch_weights])
    return optimizers


class JointStep:
    """Holds the models, A, the GAN trainer (its own D/G steps and optimisers) and the joint
    optimisers; `__call__(batches, with_hypergradient)` runs one compiled iteration."""

    def __init__(self, config, models: joint_problem.JointModels, weight_logits, gan_trainer,
                 optimizers: Optimizers):
        self.config = config
        self.models = models
        self.weight_logits = weight_logits
        self.gan_trainer = gan_trainer
        self.optimizers = optimizers
        self.settings = joint_problem.ProblemSettings(
            captioner_normalization=config.pipeline.captioner_normalization,
            captioner_image_size=config.pipeline.captioner_image_size,
            alpha_c=config.captioner.alpha_c,
            straight_through_temperature=config.lm.straight_through_temperature)
        self.rates = hypergradient.Rates(
            captioner_lr=config.captioner.decoder_lr, lm_lr=config.lm.learning_rate,
            generator_lr=config.gan.generator_lr, synthetic_weight=config.joint.synthetic_weight)
        self.gan_noise = tf.random.Generator.from_seed(config.seed + 4)
        limit = config.max_consecutive_skips
        self.guards = {  # the GAN updates go through the GAN trainer's own guard
            "lm": guard_lib.NonFiniteGuard("joint_lm", limit, "lm.learning_rate"),
            "captioner": guard_lib.NonFiniteGuard(
                "joint_captioner", limit, "captioner.decoder_lr / captioner.encoder_lr"),
            "hypergradient": guard_lib.NonFiniteGuard(  # its virtual steps use the stage rates
                "joint_hypergradient", limit, "joint.epsilon_scale or the virtual steps' rates "
                "(captioner.decoder_lr, lm.learning_rate, gan.generator_lr)")}
        jit = config.joint.jit_compile
        self._with = tf.function(lambda b: self._iteration(b, True), jit_compile=jit,
                                 reduce_retracing=True)
        self._without = tf.function(lambda b: self._iteration(b, False), jit_compile=jit,
                                    reduce_retracing=True)

    def __call__(self, batches: dict, with_hypergradient: bool) -> dict:
        return (self._with if with_hypergradient else self._without)(batches)

    def check_guards(self) -> None:
        """After an iteration: stops the run when one of its updates keeps being skipped."""
        for guard in (*self.guards.values(), self.gan_trainer.guard):
            guard.check()

    def skipped_steps(self) -> dict:
        """Skipped (non-finite) updates per part; the GAN's count includes its warm-up."""
        return {**{name: guard.skipped_steps for name, guard in self.guards.items()},
                "gan": self.gan_trainer.guard.skipped_steps}

    def weights(self) -> dict:
        """The variables the joint phase trains, by the design's names (W, G, E, F, A, B)."""
        m = self.models
        return {"W": m.captioner.trainable_variables, "G": m.lm.trainable_variables,
                "E": m.generator.trainable_variables, "F": m.discriminator.trainable_variables,
                "A": [self.weight_logits], "B": [m.discriminator.arch_weights]}

    def problem(self, batches) -> hypergradient.Problem:
        """The hypergradient's closures over an iteration's batches; L_gen takes the first GAN
        batch, with its noise and matching offsets drawn here once."""
        gan_batch = dict(batches["gan"][0])
        batch_size = tf.shape(gan_batch["image"])[0]
        gan_batch["noise"] = self.gan_noise.normal([batch_size, self.config.gan.noise_dim])
        gan_batch["offsets"] = self.gan_trainer.matching_offsets(self.gan_noise, batch_size)
        return joint_problem.build_problem(self.models, {**batches, "gan": gan_batch},
                                           self.settings)

    def arguments(self) -> tuple:
        """(W, G, E, A, B): the current weights the hypergradient starts from, as tensors."""
        m = self.models
        return (model_state(m.captioner)[0], model_state(m.lm)[0],
                model_state(m.generator)[0], tf.convert_to_tensor(self.weight_logits),
                tf.convert_to_tensor(m.discriminator.arch_weights))

    def _iteration(self, batches, with_hypergradient: bool):
        joint = self.config.joint
        figures = {}
        if with_hypergradient:
            grads = hypergradient.compute(joint.hypergradient, self.problem(batches),
                                          *self.arguments(), self.rates,
                                          epsilon_scale=joint.epsilon_scale)
            figures.update({f"hypergradient/{k}": v for k, v in grads.stats.items()})
            figures["hypergradient/a_norm"] = tf.norm(grads.a)
            figures["hypergradient/b_norm"] = tf.norm(grads.b)
        figures.update(self._lm_update(batches["lm"]))
        figures.update(self._gan_updates(batches["gan"]))
        figures.update(self._captioner_update(batches["real"], batches["synthetic"]))
        if with_hypergradient:
            self.guards["hypergradient"].apply(None, [grads.a, grads.b],
                                               lambda: self._hyper_update(grads))
        return figures

    def _hyper_update(self, grads) -> None:
        """A <- A - opt(grad_A), B <- B - opt(grad_B), each unless frozen by its ablation."""
        if self.config.joint.update_caption_weights:
            self.optimizers.caption_weights.apply([grads.a], [self.weight_logits])
        if self.config.joint.update_architecture:
            self.optimizers.architecture.apply([grads.b], [self.models.discriminator.arch_weights])

    def _lm_update(self, batch):
        """G <- G - opt(grad_G sum_i a_i l_i(G)), A fixed: the LM trainer's own step."""
        lm = self.models.lm
        state = lm.non_trainable_variables
        before = guard_lib.snapshot(state)
        with tf.GradientTape() as tape:
            losses = caption_lm.batch_losses(lm, batch, training=True)
            loss = caption_lm.weighted_lm_loss(losses, self.weight_logits, batch["caption_index"])
        gradients = tape.gradient(loss, lm.trainable_variables)
        self.guards["lm"].apply(
            loss, gradients, lambda: self.optimizers.lm.apply(gradients, lm.trainable_variables),
            lambda: guard_lib.restore(state, before))
        return {"lm/weighted_loss": loss, "lm/caption_loss": tf.reduce_mean(losses)}

    def _gan_updates(self, batches):
        """One discriminator then `gan.generator_steps` generator updates (B fixed), each on its
        own matching batch, through the GAN trainer's steps."""
        figures = {f"gan/{k}": v for k, v in
                   self.gan_trainer.discriminator_step(batches[0]).items()}
        losses = [self.gan_trainer.generator_step(b)["generator_loss"] for b in batches[1:]]
        figures["gan/generator_loss"] = tf.reduce_mean(tf.stack(losses))
        return figures

    def _captioner_update(self, real, synthetic):
        """W <- W - opt(grad_W [L(real; W) + lambda L(S; W)]), S from the current G and E."""
        m, cap = self.models, self.config.captioner
        images, one_hots = joint_problem.synthetic_pairs(
            m, *model_state(m.lm), *model_state(m.generator),
            synthetic, self.settings)
        images, one_hots = tf.stop_gradient(images), tf.stop_gradient(one_hots)
        encoder_vars = m.captioner.encoder.trainable_variables
        decoder_vars = m.captioner.decoder.trainable_variables
        state = m.captioner.non_trainable_variables
        before = guard_lib.snapshot(state)
        with tf.GradientTape() as tape:
            real_loss = self._captioner_loss(real["image"], real["token_ids"], real["padding_mask"])
            synthetic_loss = self._captioner_loss(images, one_hots, synthetic["padding_mask"])
            loss = real_loss + self.config.joint.synthetic_weight * synthetic_loss
        clip = cap.grad_clip_value
        raw_grads = tape.gradient(loss, encoder_vars + decoder_vars)
        grads = [tf.clip_by_value(g, -clip, clip) for g in raw_grads]

        def updates():
            if encoder_vars:
                self.optimizers.captioner_encoder.apply(grads[:len(encoder_vars)], encoder_vars)
            self.optimizers.captioner_decoder.apply(grads[len(encoder_vars):], decoder_vars)

        self.guards["captioner"].apply(loss, raw_grads, updates,
                                       lambda: guard_lib.restore(state, before))
        return {"captioner/real_loss": real_loss, "captioner/synthetic_loss": synthetic_loss}

    def _captioner_loss(self, image, tokens, padding_mask):
        inputs, targets, target_mask = captioner_loss.teacher_forcing(tokens, padding_mask)
        out = self.models.captioner({"image": image, "tokens": inputs}, training=True)
        return captioner_loss.caption_loss(out["logits"], targets, target_mask, out["alphas"],
                                           self.config.captioner.alpha_c).total
