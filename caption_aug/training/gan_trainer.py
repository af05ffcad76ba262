"""`--mode=train_gan`: trains the Stage2GAN (B fixed) with the matching-aware loss, then scores it.

One iteration is one discriminator update followed by `generator_steps` generator updates, each on
a fresh batch of the matching pipeline (real image, its caption, a mismatched caption). The
caption embedding is the frozen trained sentence encoder's (`gan.conditioning = "encoder"`, from
the workdir's `--mode=train_encoder`), or the stand-in `CaptionConditioning` ("trainable"),
trained by the discriminator's loss, where telling matching from mismatched captions needs it;
the generator sees either as a fixed input. Steps go through `stateless_call`, so a non-finite loss or
gradient changes nothing (weights, optimiser, batch-norm statistics): the step is skipped and counted.

The workdir gets `gan/checkpoints/` (resumed on rerun), `gan/samples/*.png` (generated images for
fixed captions beside the real ones, and softmax(B)), `gan/architecture.json` (derive()),
`gan/metrics.json` (conditional attribute accuracy), and TensorBoard events under `tensorboard/gan/`.
"""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import compiled
from caption_aug import distribute
from caption_aug import guard as guard_lib
from caption_aug import progress
from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.evaluation import attribute_classifier
from caption_aug.evaluation import gan_eval
from caption_aug.models.stage2gan import conditioning as conditioning_lib
from caption_aug.models.stage2gan import discriminator as discriminator_lib
from caption_aug.models.stage2gan import losses
from caption_aug.models.stage2gan.factory import GanModels, build_models
from caption_aug.models.stateless import model_state
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries
from caption_aug.workdir import trained

STAGE = layout.GAN


def _adam(learning_rate: float, gan_config) -> keras.optimizers.Adam:
    return keras.optimizers.Adam(learning_rate, beta_1=gan_config.beta1, beta_2=gan_config.beta2)


class GanStep:
    """Models, optimisers and the two compiled update steps of the GAN game."""

    def __init__(self, gan_config, models: GanModels, seed: int, max_consecutive_skips: int):
        self.config = gan_config
        self.models = models
        self.generator_optimizer = _adam(gan_config.generator_lr, gan_config)
        self.discriminator_optimizer = _adam(gan_config.discriminator_lr, gan_config)
        self.generator_optimizer.build(models.generator.trainable_variables)
        self.discriminator_optimizer.build(models.discriminator.trainable_variables)
        self.trains_conditioning = bool(models.conditioning.trainable_variables)
        if self.trains_conditioning:
            self.conditioning_optimizer = _adam(gan_config.conditioning_lr, gan_config)
            self.conditioning_optimizer.build(models.conditioning.trainable_variables)
        self.noise = tf.random.Generator.from_seed(seed)
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.guard = guard_lib.NonFiniteGuard(
            STAGE, max_consecutive_skips, "gan.generator_lr / gan.discriminator_lr")
        self._inference_images = inference_images(models.conditioning.embed,
                                                  models.sampling_generator)
        self.discriminator_step = compiled.function(self._discriminator_step)
        self.generator_step = compiled.function(self._generator_step)

    def checkpoint_objects(self) -> dict:
        """Everything training changes (the frozen encoder has its own checkpoint)."""
        trained = dict(generator=self.models.generator, discriminator=self.models.discriminator,
                       **({"generator_ema": self.models.generator_ema}
                          if self.models.generator_ema is not None else {}),
                       generator_optimizer=self.generator_optimizer,
                       discriminator_optimizer=self.discriminator_optimizer)
        if self.trains_conditioning:
            trained.update(conditioning=self.models.conditioning,
                           conditioning_optimizer=self.conditioning_optimizer)
        return dict(**trained, noise=self.noise, iteration=self.iteration,
                    **self.guard.trackables())

    @property
    def iterations_done(self) -> int:
        return int(self.iteration.numpy())  # int() of a mirrored variable fails

    def _sample_noise(self, batch_size) -> tf.Tensor:
        return self.noise.normal([batch_size, self.config.noise_dim])

    def _generate(self, embedding, generator_state, noise=None):
        """Generated images (training-mode batch norm) and the generator's updated statistics;
        `noise`: fresh noise if None."""
        if noise is None:
            noise = self._sample_noise(tf.shape(embedding)[0])
        return self.models.generator.stateless_call(
            generator_state[0], generator_state[1], {"text_embedding": embedding, "noise": noise},
            training=True)

    def _discriminate(self, images, embedding, state, arch_weights=None):
        """D in training mode on real and generated images together, in one batch: with separate
        batches, per-batch normalisation would erase whatever tells real from generated.
        `arch_weights`: B to use instead of the discriminator's own (stage 4's probes)."""
        logits, non_trainable = self.models.discriminator.stateless_call(
            state[0], state[1], {"image": images, "text_embedding": embedding}, training=True,
            arch_weights=arch_weights)
        return logits, (state[0], non_trainable)

    def _discriminator_step(self, batch):
        """One discriminator (and caption-embedding) update on real/right, real/wrong, fake/right
        (on every replica with its share of `batch` under a strategy; the noise is drawn once
        for the global batch, so that any number of replicas draws the images one device does)."""
        cond, gen, disc = self.models.conditioning, self.models.generator, self.models.discriminator
        cond_vars = cond.trainable_variables
        noise = self._sample_noise(self._global_batch_size(batch))

        def replica_step(replica_batch):
            d_state = model_state(disc)
            with tf.GradientTape() as tape:
                tape.watch(d_state[0])
                right = cond.embed(replica_batch["token_ids"], replica_batch["padding_mask"])
                wrong = cond.embed(replica_batch["wrong_token_ids"],
                                   replica_batch["wrong_padding_mask"])
                fake, _ = self._generate(tf.stop_gradient(right), model_state(gen),
                                         distribute.replica_rows(right)(noise))
                logits, d_state = self._discriminate(
                    tf.concat([replica_batch["image"], replica_batch["image"], fake], axis=0),
                    tf.concat([right, wrong, right], axis=0), d_state)
                real_logits, wrong_logits, fake_logits = tf.split(logits, 3)
                loss = losses.discriminator_loss(real_logits, wrong_logits, fake_logits,
                                                 self.config.loss)
            d_grads, cond_grads = self.guard.gradients(tape, loss, (d_state[0], cond_vars))
            mean = distribute.global_mean
            return d_grads + cond_grads, (
                {"discriminator_loss": loss, "d_real": mean(tf.sigmoid(real_logits)),
                 "d_wrong": mean(tf.sigmoid(wrong_logits)),
                 "d_fake": mean(tf.sigmoid(fake_logits))}, _values(d_state[1]))

        def apply_gradients(gradients):
            split = len(disc.trainable_variables)
            self.discriminator_optimizer.apply(gradients[:split], disc.trainable_variables)
            if self.trains_conditioning:
                self.conditioning_optimizer.apply(gradients[split:], cond_vars)

        gradients, (figures, statistics), apply = distribute.replicated_update(
            replica_step, (batch,), apply_gradients)

        def updates():
            apply(gradients)
            guard_lib.restore(disc.non_trainable_variables, _alike_on_replicas(statistics))

        self.guard.apply(figures["discriminator_loss"], gradients, updates)
        return figures

    def _global_batch_size(self, batch):
        """The global batch's size (a distributed batch's under a strategy)."""
        return tf.shape(distribute.whole_batch(batch["token_ids"]))[0]

    def generator_losses(self, fake_logits, fake, embedding, image_index, offsets) -> dict:
        """The parts of L_gen for generated images `fake` of caption `embedding`s: the adversarial
        loss (`gan.loss`) and, with `gan.matching_weight` > 0, the image-text matching loss
        through the frozen sentence encoder (`EncoderConditioning.matching_loss`) of `fake`
        shifted by `offsets` (from `matching_offsets`)."""
        parts = {"adversarial_loss": losses.generator_loss(fake_logits, self.config.loss)}
        if self.config.matching_weight:
            if self.config.matching_shift:
                fake = conditioning_lib.translate(fake, offsets, self.config.matching_shift)
            parts["matching_loss"] = self.models.conditioning.matching_loss(
                fake, embedding, image_index, self.config.matching_temperature)
        return parts

    def matching_offsets(self, generator: tf.random.Generator, batch_size):
        """Random per-image shifts of up to `gan.matching_shift` pixels for `generator_losses`."""
        return conditioning_lib.random_offsets(generator, batch_size, self.config.matching_shift)

    def judged_generator_losses(self, fake, embedding, right, real_images, image_index, offsets,
                                discriminator_state, arch_weights=None) -> dict:
        """`generator_losses` of generated images `fake` conditioned on `embedding`, whose first
        rows are the batch's own captions `right` (GAN-INT appends interpolated ones, which have
        no caption to match): D judges them beside the real images, which ride along only for
        its batch-norm statistics (see `_discriminate`)."""
        logits, _ = self._discriminate(tf.concat([fake, real_images], axis=0),
                                       tf.concat([embedding, right], axis=0), discriminator_state,
                                       arch_weights)
        count = tf.shape(right)[0]
        return self.generator_losses(logits[:tf.shape(fake)[0]], fake[:count], right, image_index,
                                     offsets)

    def generator_objective(self, fake, embedding, real_images, image_index, offsets,
                            discriminator_state, arch_weights=None):
        """L_gen: adversarial + `gan.matching_weight` x matching of `fake` (see
        `judged_generator_losses`), without GAN-INT or mode seeking: what stage 4
        differentiates, with D's weights and B given explicitly."""
        return self._total(self.judged_generator_losses(
            fake, embedding, embedding, real_images, image_index, offsets, discriminator_state,
            arch_weights))

    def _total(self, parts: dict):
        return (parts["adversarial_loss"]
                + self.config.matching_weight * parts.get("matching_loss", 0.0)
                + self.config.mode_seeking_weight * parts.get("mode_seeking_loss", 0.0))

    def _generator_step(self, batch):
        """One generator update: generated images (and, with GAN-INT, images for interpolated
        caption embeddings) should be judged real and matching, and match their captions (see
        `generator_objective`; the interpolated ones have no caption to match), and, with
        `gan.mode_seeking_weight` > 0, differ with their noise (a second draw of the captions'
        images, `losses.mode_seeking_loss`; this stage's term only, stage 4 leaves it out). The
        real images ride along in the discriminator's batch only for its batch-norm statistics.
        Under a strategy the captions are embedded, GAN-INT's mixed and the noise and offsets
        drawn for the global batch (the generator does not train the embedding), and each
        replica takes its rows of them beside its share of `batch`."""
        gen, disc = self.models.generator, self.models.discriminator
        whole = distribute.whole_batch(batch)
        captions = tf.stop_gradient(self.models.conditioning.embed(whole["token_ids"],
                                                                   whole["padding_mask"]))
        count = tf.shape(captions)[0]
        ema_noise = None if self.models.generator_ema is None else self._sample_noise(count)
        offsets = self.matching_offsets(self.noise, count)
        noise = self._sample_noise(2 * count if self.config.interpolation else count)
        other_noise = self._sample_noise(count) if self.config.mode_seeking_weight else None
        mixed = None
        if self.config.interpolation:
            beta = self.config.interpolation_beta
            mixed = beta * captions + (1.0 - beta) * tf.roll(captions, shift=1, axis=0)

        def replica_step(replica_batch):
            own = distribute.replica_rows(replica_batch["token_ids"])
            right = own(captions)
            embedding, replica_noise = right, own(noise[:count])
            if mixed is not None:
                embedding = tf.concat([right, own(mixed)], axis=0)
                replica_noise = tf.concat([replica_noise, own(noise[count:])], axis=0)
            g_state = model_state(gen)
            with tf.GradientTape() as tape:
                tape.watch(g_state[0])
                fake, g_non_trainable = self._generate(embedding, g_state, replica_noise)
                parts = self.judged_generator_losses(
                    fake, embedding, right, replica_batch["image"], replica_batch["image_index"],
                    own(offsets), model_state(disc))
                if other_noise is not None:
                    replica_other_noise = own(other_noise)
                    other, _ = self._generate(right, g_state, replica_other_noise)
                    rows = tf.shape(right)[0]
                    parts["mode_seeking_loss"] = losses.mode_seeking_loss(
                        fake[:rows], other, replica_noise[:rows], replica_other_noise)
                loss = self._total(parts)
            return self.guard.gradients(tape, loss, g_state[0]), (
                {"generator_loss": loss, **parts}, _values(g_non_trainable))

        gradients, (figures, statistics), apply = distribute.replicated_update(
            replica_step, (batch,), lambda grads: self.generator_optimizer.apply(
                grads, gen.trainable_variables))

        def updates():
            apply(gradients)
            guard_lib.restore(gen.non_trainable_variables, _alike_on_replicas(statistics))
            if ema_noise is not None:
                self._update_ema(captions, ema_noise)

        self.guard.apply(figures["generator_loss"], gradients, updates)
        return figures

    def _update_ema(self, embedding, noise) -> None:
        """generator_ema <- decay * generator_ema + (1 - decay) * generator (weights); its
        batch-norm statistics then follow its own activations on this batch's captions (the
        generator's statistics belong to the generator's weights, not to their average)."""
        ema, gen, decay = self.models.generator_ema, self.models.generator, self.config.ema_decay
        if ema is None:
            return
        for average, weight in zip(ema.trainable_variables, gen.trainable_variables):
            average.assign(decay * average + (1.0 - decay) * weight)
        trainable, non_trainable = model_state(ema)
        _, statistics = ema.stateless_call(trainable, non_trainable,
                                           {"text_embedding": embedding, "noise": noise},
                                           training=True)
        guard_lib.restore(ema.non_trainable_variables, statistics)

    def generator_from_average(self) -> None:
        """Sets the generator to its moving average (if any): stage 4 starts from the generator
        the GAN stage sampled and scored."""
        if self.models.generator_ema is not None:
            self.models.generator.set_weights(self.models.generator_ema.get_weights())

    def train_iteration(self, batches) -> dict:
        """One discriminator update then `generator_steps` generator updates, from `batches`."""
        figures = {k: float(v) for k, v in self.discriminator_step(next(batches)).items()}
        self.guard.check()
        g_figures = []
        for _ in range(self.config.generator_steps):
            g_figures.append(self.generator_step(next(batches)))
            self.guard.check()
        self.iteration.assign_add(1)
        figures.update({k: float(np.mean([f[k] for f in g_figures])) for k in g_figures[0]})
        return figures

    def train_step(self, batch) -> dict:
        """One discriminator and one generator update on the same batch, with `applied` (1 when
        neither was skipped): the shape of the other stages' steps, for comparing steps across
        strategies (tests, benchmarks). Training takes a fresh batch for each
        (`train_iteration`)."""
        skipped = self.guard.skipped_steps
        figures = {**self.discriminator_step(batch), **self.generator_step(batch)}
        return {**figures, "applied": float(self.guard.skipped_steps == skipped)}

    def generate(self, token_ids, padding_mask, noise) -> np.ndarray:
        """Images in [-1, 1] for captions (inference-mode batch norm; the EMA generator if any)."""
        return self._inference_images(token_ids, padding_mask, noise)


def _values(state: list) -> list:
    """A model's non-trainable state after `stateless_call` as tensors: the variables it left
    alone (B in this stage) come back as themselves, which a replica cannot hand on."""
    return [tf.identity(value) for value in state]


def _alike_on_replicas(summed: list) -> list:
    """Values every replica computed alike (batch-norm statistics over the global batch), as
    `distribute.replicated_update` returns them: summed over the replicas."""
    return [value / distribute.replicas() for value in summed]


def inference_images(embed, generator):
    """generate(token_ids, padding_mask, noise) -> numpy images in [-1, 1] of `generator` (inference
    mode) for captions embedded by `embed`, traced once: called eagerly, the sentence encoder's
    GRU re-traces its loop on every call (about 1 s each), which made scoring slower than training
    at test sizes."""
    @compiled.function(reduce_retracing=True)
    def images(token_ids, padding_mask, noise):
        embedding = embed(token_ids, padding_mask)
        return generator({"text_embedding": embedding, "noise": noise}, training=False)

    def generate(token_ids, padding_mask, noise) -> np.ndarray:
        return images(tf.convert_to_tensor(token_ids, tf.int32),
                      tf.convert_to_tensor(padding_mask, tf.bool),
                      tf.convert_to_tensor(noise, tf.float32)).numpy()
    return generate


def training_batches(config, datasets: pipelines.Datasets, split="train") -> tf.data.Dataset:
    """Endless matching batches (image in [-1, 1], caption, mismatched caption) of `split` at the
    GAN's size, in an order fixed by the seed: `.skip(n)` gives what an uninterrupted run takes
    after n batches."""
    return datasets.matching(split, config.pipeline.gan_image_size, "tanh", config.gan.batch_size,
                             training=True, seed=config.seed).repeat()


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def sample_grid(real: np.ndarray, generated: np.ndarray, gap: int = 2) -> np.ndarray:
    """Rows of [real image | generated images] for fixed captions (the paper's Figures 6 and 7):
    real uint8 [N, S, S, 3], generated uint8 [N, K, S, S, 3] -> one uint8 image."""
    n, k, size = generated.shape[0], generated.shape[1], generated.shape[2]
    grid = np.full((n * (size + gap) + gap, (k + 1) * (size + gap) + 2 * gap, 3), 255, np.uint8)
    for row in range(n):
        top = gap + row * (size + gap)
        grid[top:top + size, gap:gap + size] = real[row]
        for col in range(k):
            left = 3 * gap + (col + 1) * (size + gap)
            grid[top:top + size, left:left + size] = generated[row, col]
    return grid


def arch_weights_image(arch_weights: np.ndarray, cell: int = 16) -> np.ndarray:
    """softmax(B) as a grey image: one row per edge, one column per op, white = weight 1."""
    weights = np.exp(arch_weights - arch_weights.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    grey = np.round(weights * 255).astype(np.uint8)
    grey = np.repeat(np.repeat(grey, cell, axis=0), cell, axis=1)
    return np.repeat(grey[..., None], 3, axis=-1)


def write_png(path: str, image: np.ndarray) -> None:
    tf.io.write_file(path, tf.io.encode_png(image))


class RealVersusGenerated:
    """The paper's Figure 7: the first captions of a split, each with its real image and images
    generated for it under fixed noise, so that grids drawn at different times compare."""

    def __init__(self, datasets: pipelines.Datasets, split, config):
        split, tok = datasets.split(split), datasets.tokenizer
        count = min(config.gan.sample_captions, split.num_images)
        starts = split.caption_row_starts[:count]
        self.captions = [split.flat_captions[k] for k in starts]
        self.token_ids, self.padding_mask = gan_eval.pad_tokens(
            [split.caption_tokens[k] for k in starts], tok.start_id, tok.end_id, tok.pad_id,
            config.data.max_caption_tokens)
        first = next(iter(datasets.eval(split, config.pipeline.gan_image_size, "tanh", count)))
        self.real = to_uint8(first["image"].numpy())
        self.noise = np.random.default_rng(config.seed).standard_normal(
            (config.gan.samples_per_caption, count, config.gan.noise_dim)).astype("float32")

    def grid(self, generate) -> np.ndarray:
        """uint8 rows [real | generated...]; generate(token_ids, padding_mask, noise) -> [-1, 1]."""
        generated = np.stack([to_uint8(generate(self.token_ids, self.padding_mask, z))
                              for z in self.noise], axis=1)
        return sample_grid(self.real, generated)

    def caption_lines(self) -> str:
        """The grid's captions, one numbered line per row (row 1 at the top)."""
        return "".join(f"{row}. {caption}\n" for row, caption in enumerate(self.captions, 1))

    def write(self, path: str, generate) -> np.ndarray:
        """The grid as a PNG at `path` and its captions beside it (same name, .txt)."""
        grid = self.grid(generate)
        write_png(path, grid)
        with open(os.path.splitext(path)[0] + ".txt", "w") as f:
            f.write(self.caption_lines())
        return grid


class Monitor:
    """TensorBoard scalars and images, and the same pictures as PNGs in the workdir."""

    def __init__(self, workdir: str, trainer: GanStep, datasets: pipelines.Datasets, validation,
                 config):
        self.trainer = trainer
        self.samples_dir = os.path.join(layout.stage_dir(workdir, STAGE), "samples")
        os.makedirs(self.samples_dir, exist_ok=True)
        self.writer = summaries.stage_writer(workdir, STAGE)
        self.figure = RealVersusGenerated(datasets, validation, config)

    def scalars(self, step: int, figures: dict) -> None:
        with self.writer.as_default(step=step):
            for name, value in figures.items():
                tf.summary.scalar(name, value)

    def pictures(self, step: int) -> None:
        grid = self.figure.write(os.path.join(self.samples_dir, f"samples_{step:06d}.png"),
                                 self.trainer.generate)
        with self.writer.as_default(step=step):
            tf.summary.image("samples/real_then_generated", grid[None], step=step)
            tf.summary.text("samples/captions", self.figure.caption_lines())
            disc = self.trainer.models.discriminator
            if disc.is_supernet:
                picture = arch_weights_image(keras.ops.convert_to_numpy(disc.arch_weights))
                write_png(os.path.join(self.samples_dir, f"arch_weights_{step:06d}.png"), picture)
                tf.summary.image("architecture/softmax_B", picture[None], step=step)
        self.writer.flush()


def load_architecture(path: str):
    """Op names per edge from a derived architecture JSON, or None for the supernet."""
    if not path:
        return None
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config key gan.derived_architecture: no file {path}")
    with open(path) as f:
        return discriminator_lib.architecture_from_json(f.read())["architecture"]


def require_encoder(config, workdir: str) -> None:
    """Under `gan.conditioning = "encoder"`, fails at once when the workdir has no trained
    sentence encoder."""
    if config.gan.conditioning == "encoder" and not trained.has_checkpoint(workdir, layout.ENCODER):
        raise FileNotFoundError(
            f'gan.conditioning="encoder" needs a trained sentence encoder, and '
            f'{layout.checkpoint_dir(workdir, layout.ENCODER)} has none: run '
            f'--mode=train_encoder first')


def load_conditioning(config, workdir: str, vocabulary_size: int):
    """The frozen trained sentence encoder of the workdir under `gan.conditioning = "encoder"`,
    else None (the trainable stand-in)."""
    if config.gan.conditioning != "encoder":
        return None
    require_encoder(config, workdir)
    return conditioning_lib.EncoderConditioning(
        trained.load_trained_encoder(config, workdir, vocabulary_size),
        config.pipeline.encoder_image_size, config.encoder.image_normalization)


def train(config, workdir: str, prepared) -> GanStep:
    """Trains (or resumes) the GAN to `config.gan.iterations` iterations."""
    gan = config.gan
    image_size = config.pipeline.gan_image_size
    train_split = prepared.splits["train"]
    validation = prepared.splits["validation"]
    if gan.max_objects:
        train_split = attribute_classifier.split_with_max_objects(train_split, gan.max_objects)
        validation = attribute_classifier.split_with_max_objects(validation, gan.max_objects)
    models = build_models(gan, image_size, prepared.tokenizer.vocabulary_size, config.seed,
                          load_architecture(gan.derived_architecture),
                          load_conditioning(config, workdir, prepared.tokenizer.vocabulary_size))
    trainer = GanStep(gan, models, config.seed, config.max_consecutive_skips)
    checkpointer = checkpoints.resume_or_start(layout.checkpoint_dir(workdir, STAGE),
                                               trainer.checkpoint_objects())
    datasets = pipelines.Datasets(config, prepared.splits, prepared.tokenizer)
    monitor = Monitor(workdir, trainer, datasets, validation, config)
    batches_taken = trainer.iterations_done * (1 + gan.generator_steps)
    batches = iter(distribute.distribute_batches(
        training_batches(config, datasets, train_split).skip(batches_taken)))
    logging.info("training the GAN on %d images (%dx%d), %s discriminator, %d iterations",
                 train_split.num_images, image_size, image_size,
                 "supernet" if models.discriminator.is_supernet else "derived", gan.iterations)
    period, started = [], time.time()
    meter = progress.Progress("GAN iterations", gan.iterations, done=trainer.iterations_done)
    while trainer.iterations_done < gan.iterations:
        period.append(trainer.train_iteration(batches))
        step = trainer.iterations_done
        meter.update(step)
        if step % gan.summary_every == 0 or step == gan.iterations:
            means = {k: float(np.mean([f[k] for f in period])) for k in period[0]}
            means["skipped_steps"] = float(trainer.guard.skipped_steps)
            monitor.scalars(step, means)
            monitor.pictures(step)
            logging.info("GAN iteration %d/%d: %s (%.2f iterations/s)", step, gan.iterations,
                         ", ".join(f"{k} {v:.3f}" for k, v in means.items()),
                         len(period) / (time.time() - started))
            period, started = [], time.time()
        if step % gan.checkpoint_every == 0 or step == gan.iterations:
            checkpointer.save(step)
    return trainer


def write_architecture(workdir: str, discriminator) -> dict:
    architecture = discriminator.derive()
    path = os.path.join(layout.stage_dir(workdir, STAGE), "architecture.json")
    with open(path, "w") as f:
        f.write(discriminator_lib.architecture_to_json(architecture))
    logging.info("discriminator architecture (%s): %s", path, architecture["architecture"])
    return architecture


def evaluate(config, workdir: str, prepared, trainer: GanStep) -> dict:
    """Conditional accuracy of the generator with chance and the classifier's ceiling (whether
    each attribute is `readable` at this size: ceiling >= 0.95), the real images' own and
    shuffled-caption scores, and the generator's diversity across noise."""
    image_size = config.pipeline.gan_image_size
    test = prepared.splits["test"]
    classifier = attribute_classifier.train_or_load(
        prepared.splits["train"], test, image_size, os.path.join(workdir, "attribute_classifier"),
        config.attribute_classifier, config.data.cache_max_mb, config.seed,
        config.max_consecutive_skips)
    arguments = dict(tokenizer=prepared.tokenizer, max_tokens=config.data.max_caption_tokens,
                     noise_dim=config.gan.noise_dim)
    scores = gan_eval.conditional_accuracy(trainer.generate, classifier.model, test,
                                           seed=config.seed, **arguments)
    real = gan_eval.real_image_scores(classifier.model, test, image_size, config.data.cache_max_mb,
                                      seed=config.seed)
    for name, ceiling in classifier.real_accuracy.items():
        scores[name].update(ceiling=ceiling, readable=ceiling >= attribute_classifier.READABLE)
    scores["objects"].update(ceiling=real["own_captions"]["objects"]["accuracy"],
                             chance=real["shuffled_captions"]["objects"]["accuracy"])
    scores["classifier_real_accuracy"] = classifier.real_accuracy
    scores["real_images"] = real
    scores["diversity"] = gan_eval.diversity(trainer.generate, test, image_size=image_size,
                                             cache_max_mb=config.data.cache_max_mb,
                                             seed=config.seed, **arguments)
    scores["iterations"] = trainer.iterations_done
    scores["skipped_steps"] = trainer.guard.skipped_steps
    return scores


def run_mode(config, workdir: str) -> dict:
    """`--mode=train_gan`: prepare the data, train or resume, derive B, measure, write metrics."""
    require_encoder(config, workdir)
    prepared = prepare_lib.prepare(config, workdir)
    started = time.time()
    trainer = train(config, workdir, prepared)
    metrics = {"training_seconds_this_run": round(time.time() - started, 1),
               "skipped_steps": trainer.guard.skipped_steps}
    metrics["architecture"] = write_architecture(workdir, trainer.models.discriminator)
    if prepared.splits["test"].metadata is not None:
        metrics["conditional_accuracy"] = evaluate(config, workdir, prepared, trainer)
        logging.info("GAN conditional accuracy: %s", json.dumps(metrics["conditional_accuracy"]))
    else:
        logging.info("no scene metadata (not caption_shapes): conditional accuracy not measured")
    metrics_lib.write_metrics(workdir, STAGE, metrics)
    return metrics
