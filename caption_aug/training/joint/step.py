"""Stage 4's joint iteration as one `tf.function`: the LM update, the GAN updates, the captioner
update on real + lambda * synthetic pairs, and the hypergradient update of A and B.

Each update is its stage's own step (`LMStep`, `GanStep`, `CaptionerStep`) with the optimisers of
this phase, and the A/B update is the `Architect`'s. The hypergradient is computed first, from the
weights before this iteration (docs/DESIGN.md section 2: virtual steps start from them); the four
updates follow in the design's order, so the synthetic batch of the captioner update is drawn from
the just-updated LM and generator.
"""

import functools

import tensorflow as tf

from caption_aug import compiled
from caption_aug import config_schema
from caption_aug import distribute
from caption_aug import precision
from caption_aug.models.stateless import model_state
from caption_aug.training import captioner_trainer
from caption_aug.training import lm_trainer
from caption_aug.training.joint import architect as architect_lib
from caption_aug.training.joint import hypergradient
from caption_aug.training.joint import problem as joint_problem

# The batches the pipelines pad to their longest caption (length buckets): the caption length T of
# their [B, T] tensors changes from batch to batch.
LENGTH_BUCKETED = ("lm", "real", "validation")


def iteration_signature(batches: dict) -> dict:
    """The types of an iteration's batches with the length-bucketed captions' T left free, so that
    the step is traced once, not again (a trace costs minutes) at the first batch of another
    length; every other dimension stays as in `batches`."""
    def spec(value, free_length: bool):
        value = tf.convert_to_tensor(value)
        shape = value.shape.as_list()
        if free_length and len(shape) == 2:
            shape[1] = None
        return tf.TensorSpec(shape, value.dtype)

    return {name: tf.nest.map_structure(functools.partial(spec, free_length=name in LENGTH_BUCKETED),
                                        batch)
            for name, batch in batches.items()}


class JointStep:
    """The models, A, the stages' steps and the architect; `__call__(batches,
    with_hypergradient)` runs one compiled iteration. The LM and captioner steps get fresh
    optimisers with their stage's settings; the GAN step (`gan_step`) goes on with its own."""

    def __init__(self, config, models: joint_problem.JointModels, weight_logits, gan_step):
        self.config = config
        self.models = models
        self.weight_logits = weight_logits
        self.gan_step = gan_step
        limit = config.max_consecutive_skips
        self.lm_step = lm_trainer.LMStep(config.lm, models.lm, weight_logits, limit,
                                         name="joint_lm")
        self.captioner_step = captioner_trainer.CaptionerStep(
            config_schema.joint_captioner(config), models.captioner, limit, name="joint_captioner")
        self.architect = architect_lib.Architect(config, weight_logits,
                                                 models.discriminator.arch_weights)
        self.settings = joint_problem.ProblemSettings(
            captioner_normalization=config.pipeline.captioner_normalization,
            captioner_image_size=config.pipeline.captioner_image_size,
            alpha_c=config.captioner.alpha_c,
            straight_through_temperature=config.lm.straight_through_temperature)
        self.gan_noise = tf.random.Generator.from_seed(config.seed + 4)
        self._compiled = {}   # with_hypergradient -> the iteration's tf.function

    def __call__(self, batches: dict, with_hypergradient: bool) -> dict:
        """One iteration, compiled at the first call (its batches give the input signature)."""
        return self.iteration_function(batches, with_hypergradient)(batches)

    def iteration_function(self, batches: dict, with_hypergradient: bool):
        """The iteration's `tf.function` (made at the first call; `batches` give its signature)."""
        if with_hypergradient not in self._compiled:
            self._compiled[with_hypergradient] = compiled.function(
                functools.partial(self._iteration, with_hypergradient=with_hypergradient),
                jit_compile=self.config.joint.jit_compile,
                input_signature=[iteration_signature(batches)])
        return self._compiled[with_hypergradient]

    @property
    def rates(self) -> hypergradient.Rates:
        return self.architect.rates

    @property
    def guards(self) -> dict:
        """This phase's own guards by part (the GAN step keeps its stage's guard)."""
        return {"lm": self.lm_step.guard, "captioner": self.captioner_step.guard,
                "hypergradient": self.architect.guard}

    def checkpoint_objects(self) -> dict:
        """What the phase trains besides the models and A: optimisers, guards, the GAN noise."""
        return dict(
            gan_noise=self.gan_noise,
            guards={name: guard.trackables() for name, guard in self.guards.items()},
            lm_optimizer=self.lm_step.optimizer,
            captioner_encoder_optimizer=self.captioner_step.encoder_optimizer,
            captioner_decoder_optimizer=self.captioner_step.decoder_optimizer,
            caption_weights_optimizer=self.architect.caption_weights_optimizer,
            architecture_optimizer=self.architect.architecture_optimizer)

    def check_guards(self) -> None:
        """After an iteration: stops the run when one of its updates keeps being skipped."""
        for guard in (*self.guards.values(), self.gan_step.guard):
            guard.check()

    def skipped_steps(self) -> dict:
        """Skipped (non-finite) updates per part; the GAN's count includes its warm-up."""
        return {**{name: guard.skipped_steps for name, guard in self.guards.items()},
                "gan": self.gan_step.guard.skipped_steps}

    def weights(self) -> dict:
        """The variables the joint phase trains, by the design's names (W, G, E, F, A, B)."""
        m = self.models
        return {"W": m.captioner.trainable_variables, "G": m.lm.trainable_variables,
                "E": m.generator.trainable_variables, "F": m.discriminator.trainable_variables,
                "A": [self.weight_logits], "B": [m.discriminator.arch_weights]}

    def problem(self, batches, gan_noise) -> hypergradient.Problem:
        """The hypergradient's closures over an iteration's batches (this replica's share under
        a strategy); L_gen takes the first GAN batch with its rows of `gan_noise`, the noise and
        matching offsets drawn for the global batch (`gan_noise_for`)."""
        gan_batch = dict(batches["gan"][0])
        own = distribute.replica_rows(gan_batch["image"])
        gan_batch.update({key: own(values) for key, values in gan_noise.items()})
        return joint_problem.build_problem(self.models, {**batches, "gan": gan_batch},
                                           self.settings)

    def gan_noise_for(self, gan_batch) -> dict:
        """L_gen's noise and matching offsets for a global GAN batch, drawn once per iteration."""
        batch_size = tf.shape(gan_batch["image"])[0]
        noise = self.gan_noise.normal([batch_size, self.config.gan.noise_dim])
        return {"noise": noise,
                "offsets": self.gan_step.matching_offsets(self.gan_noise, batch_size)}

    def keras_models(self) -> list:
        """The Keras models the hypergradient differentiates through: captioner, LM, generator,
        discriminator and the caption embedding's model."""
        m, conditioning = self.models, self.gan_step.models.conditioning
        return [m.captioner, m.lm, m.generator, m.discriminator,
                getattr(conditioning, "encoder", conditioning)]

    def arguments(self) -> tuple:
        """(W, G, E, A, B): the current weights the hypergradient starts from, as tensors."""
        m = self.models
        return (model_state(m.captioner)[0], model_state(m.lm)[0],
                model_state(m.generator)[0], tf.convert_to_tensor(self.weight_logits),
                tf.convert_to_tensor(m.discriminator.arch_weights))

    def _iteration(self, batches, with_hypergradient: bool):
        """One iteration on global batches; under a strategy every replica takes its rows of them
        (`distribute.split_batch`) and each update sums over the replicas."""
        figures = {}
        shares = distribute.split_batch(batches)
        if with_hypergradient:
            grads = self._hypergradients(shares, self.gan_noise_for(batches["gan"][0]))
            figures.update(self.architect.figures(grads))
        if self.config.joint.update_lm_and_gan:
            figures.update(self._lm_update(shares["lm"]))
            figures.update(self._gan_updates(shares["gan"]))
        figures.update(self._captioner_update(shares["real"], batches["synthetic"]))
        if with_hypergradient:
            self.architect.update(grads)
        return figures

    def _hypergradients(self, shares, gan_noise) -> hypergradient.Hypergradients:
        """dL_val/dA and dL_val/dB from the weights before this iteration, on every replica with
        its share of the batches (the probes' sums make them alike: see `hypergradient`)."""
        def replica_hypergradients(replica_batches):
            return self.architect.hypergradients(self.problem(replica_batches, gan_noise),
                                                 *self.arguments())

        with precision.float32_layers(self.keras_models()):  # the probes in float32
            return distribute.first_replica(
                tf.distribute.get_strategy().run(replica_hypergradients, args=(shares,)))

    def _lm_update(self, batch):
        """G <- G - opt(grad_G sum_i a_i l_i(G)), A fixed."""
        figures = self.lm_step.update(batch)
        return {"lm/weighted_loss": figures["loss"], "lm/caption_loss": figures["caption_loss"]}

    def _gan_updates(self, batches):
        """One discriminator then `gan.generator_steps` generator updates (B fixed), each on its
        own matching batch."""
        figures = {f"gan/{k}": v for k, v in
                   self.gan_step.discriminator_step(batches[0]).items()}
        losses = [self.gan_step.generator_step(b)["generator_loss"] for b in batches[1:]]
        figures["gan/generator_loss"] = tf.reduce_mean(tf.stack(losses))
        return figures

    def _captioner_update(self, real, synthetic):
        """W <- W - opt(grad_W [r L(real; W) + lambda L(S; W)]), S from the current G and E
        (r: `joint.real_weight`, 1 but in the synthetic-only arm). The synthetic pairs are drawn
        for the global batch, then split like `real` (this replica's share under a strategy)."""
        m, step = self.models, self.captioner_step
        images, one_hots = joint_problem.synthetic_pairs(
            m, *model_state(m.lm), *model_state(m.generator), synthetic, self.settings)
        pairs = distribute.split_batch({"image": tf.stop_gradient(images),
                                        "tokens": tf.stop_gradient(one_hots),
                                        "padding_mask": synthetic["padding_mask"]})

        def loss_fn(real_share, pairs_share):
            real_loss = step.batch_loss(real_share["image"], real_share["token_ids"],
                                        real_share["padding_mask"], training=True)[0].total
            synthetic_loss = step.batch_loss(pairs_share["image"], pairs_share["tokens"],
                                             pairs_share["padding_mask"], training=True)[0].total
            joint = self.config.joint
            return (joint.real_weight * real_loss + joint.synthetic_weight * synthetic_loss,
                    {"captioner/real_loss": real_loss, "captioner/synthetic_loss": synthetic_loss})

        return step.update(loss_fn, (real, pairs))[1]
