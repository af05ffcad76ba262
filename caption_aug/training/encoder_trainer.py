"""`--mode=train_encoder`: trains the sentence encoder (joint image/text embedding) with the
symmetric batch-contrastive loss and reports validation retrieval recall@1/5 both ways.

With `encoder.image_pretrain_steps` > 0 (caption_shapes only), the image side is first trained as a
colour/shape classifier (`encoder_pretraining`): contrastive training alone leaves shape faint in
the embedding, and the GAN's matching loss reads shape only through it (README, Stage 2).

Writes under the workdir: `encoder/checkpoints/` (encoder, optimizer, position; a rerun resumes at
the next batch), `encoder/image_pretraining.json`, `encoder/metrics.json`, and TensorBoard scalars
under `tensorboard/encoder/`. Later stages get the frozen encoder from
`workdir.trained.load_trained_encoder`.
"""

import os
import time

import keras
import tensorflow as tf
from absl import logging

from caption_aug import progress
from caption_aug.data import pipelines
from caption_aug.data import prepare
from caption_aug.evaluation import retrieval
from caption_aug.models import sentence_encoder
from caption_aug.training import encoder_pretraining
from caption_aug.training import epochs
from caption_aug.training import guard as guard_lib
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries

STAGE = layout.ENCODER
PRETRAINING_JSON = "image_pretraining.json"


class EncoderTrainer:
    """The encoder, its optimiser, checkpoint, data and train step."""

    def __init__(self, config, data: prepare.PreparedData, workdir: str):
        self.config = config
        self.data = data
        self.directory = layout.stage_dir(workdir, STAGE)
        keras.utils.set_random_seed(config.seed)  # initial weights and dropout, per run
        tok = data.tokenizer
        size = config.pipeline.encoder_image_size
        self.encoder = sentence_encoder.build_sentence_encoder(config.encoder,
                                                               tok.vocabulary_size, size)
        self.optimizer = keras.optimizers.Adam(config.encoder.learning_rate)
        self.optimizer.build(self.encoder.trainable_variables)
        self.position = epochs.EpochPosition()
        self.image_pretrained = tf.Variable(False, trainable=False)
        self.guard = guard_lib.NonFiniteGuard(STAGE, config.max_consecutive_skips,
                                              "encoder.learning_rate")
        self.checkpointer = checkpoints.resume_or_start(
            layout.checkpoint_dir(workdir, STAGE),
            dict(encoder=self.encoder, optimizer=self.optimizer, **self.position.trackables(),
                 **self.guard.trackables(), image_pretrained=self.image_pretrained))
        self.tokens = {name: pipelines.frame_tokens(split.caption_tokens, tok,
                                                    config.data.max_caption_tokens)
                       for name, split in data.splits.items()}
        self.images = {name: pipelines.ImageLoader(data.splits[name], size,
                                                   config.data.cache_max_mb)
                       for name in ("train", "validation")}
        max_tokens = config.data.max_caption_tokens
        spec = {"image": tf.TensorSpec([None, size, size, 3], tf.float32),
                "token_ids": tf.TensorSpec([None, max_tokens], tf.int32),
                "padding_mask": tf.TensorSpec([None, max_tokens], tf.bool),
                "image_index": tf.TensorSpec([None], tf.int32)}
        self.train_step = tf.function(self._train_step, input_signature=[spec])

    def _train_step(self, batch):
        """One guarded step: a skipped one leaves batch-norm statistics untouched too."""
        variables = self.encoder.trainable_variables
        state = self.encoder.non_trainable_variables
        before = guard_lib.snapshot(state)
        with tf.GradientTape() as tape:
            out = self.encoder({"image": batch["image"], "token_ids": batch["token_ids"],
                                "padding_mask": batch["padding_mask"]}, training=True)
            loss = sentence_encoder.contrastive_loss(
                out["image_embedding"], out["text_embedding"], batch["image_index"],
                self.config.encoder.temperature)
        gradients = tape.gradient(loss, variables)
        self.guard.apply(loss, gradients, lambda: self.optimizer.apply(gradients, variables),
                         lambda: guard_lib.restore(state, before))
        return loss

    def train_batches(self, epoch: int) -> tf.data.Dataset:
        """One epoch's training batches, in an order fixed by (seed, epoch)."""
        config = self.config
        dataset = pipelines.matching_dataset(
            self.data.splits["train"], self.tokens["train"], self.images["train"],
            self.data.tokenizer.pad_id, config.data.max_caption_tokens,
            config.pipeline.batch_size, config.encoder.image_normalization, training=True,
            seed=epochs.epoch_seed(config.seed, epoch))
        keys = ("image", "token_ids", "padding_mask", "image_index")
        dataset = dataset.map(lambda b: {k: b[k] for k in keys})
        steps = config.encoder.steps_per_epoch
        return dataset.take(steps) if steps else dataset

    def evaluate(self) -> dict:
        """Validation recall@1/5 both ways (and chance levels)."""
        config = self.config
        return retrieval.evaluate_retrieval(
            self.encoder, self.data.splits["validation"], self.tokens["validation"],
            self.images["validation"], self.data.tokenizer.pad_id,
            config.encoder.image_normalization, config.pipeline.eval_batch_size,
            config.pipeline.bucket_boundaries)

    def pretrain_image_side(self) -> None:
        """`encoder.image_pretrain_steps` of colour/shape classification for the image side, once
        per workdir (checkpointed; a resumed run skips it), its result in
        `image_pretraining.json`."""
        config = self.config
        steps = config.encoder.image_pretrain_steps
        if not steps or bool(self.image_pretrained.numpy()):
            return
        features = self.encoder.image_features
        image_input = keras.Input(features.input_shape[1:])
        split_images = encoder_pretraining.SplitImages(
            self.data, config.pipeline.encoder_image_size, config.encoder.image_normalization,
            config.data.cache_max_mb)
        result = encoder_pretraining.pretrain_attributes(
            image_input, features(image_input), split_images, steps,
            config.encoder.image_pretrain_batch_size, config.encoder.image_pretrain_learning_rate,
            config.seed, "sentence encoder image side")
        logging.info("pretrained image side on validation images: %s (%.0f s)",
                     result["validation_accuracy"], result["seconds"])
        metrics_lib.write_json(os.path.join(self.directory, PRETRAINING_JSON), result)
        self.image_pretrained.assign(True)
        self.checkpointer.save()

    def train(self, writer) -> None:
        """Runs the rest of the schedule (from mid-epoch after a resume), after the image side's
        pretraining when asked for; validation retrieval after each epoch, a checkpoint every
        `encoder.checkpoint_every_steps` and at epoch end."""
        enc = self.config.encoder
        self.pretrain_image_side()
        per_epoch = epochs.steps_per_epoch(len(self.data.splits["train"].flat_captions),
                                           self.config.pipeline.batch_size, enc.steps_per_epoch)
        meter = progress.Progress("sentence encoder steps", enc.epochs * per_epoch,
                                  done=self.position.steps_done)
        while self.position.epochs_done < enc.epochs:
            epoch = self.position.epochs_done
            start, pairs = time.time(), 0
            for batch in self.position.rest_of_epoch(self.train_batches(epoch)):
                loss = self.train_step(batch)
                self.guard.check()
                self.position.batch_done()
                pairs += int(batch["image_index"].shape[0])
                iteration = self.position.steps_done
                meter.update(iteration)
                if iteration % enc.checkpoint_every_steps == 0:
                    self.checkpointer.save()
                if iteration % enc.log_every_steps == 0:
                    rate = pairs / (time.time() - start)
                    logging.info("encoder epoch %d step %d: loss %.4f, %.0f pairs/s", epoch + 1,
                                 iteration, loss, rate)
                    with writer.as_default(step=iteration):
                        tf.summary.scalar("train/contrastive_loss", loss)
                        tf.summary.scalar("train/pairs_per_second", rate)
                        tf.summary.scalar("train/skipped_steps", self.guard.skipped_steps)
            metrics = self.evaluate()
            logging.info("encoder epoch %d done (%.0f s): %s", epoch + 1, time.time() - start,
                         _format(metrics))
            with writer.as_default(step=self.position.steps_done):
                for key, value in metrics.items():
                    if not key.startswith("chance"):
                        tf.summary.scalar(f"validation/{key}", value)
            self.position.epoch_done()
            self.checkpointer.save()


def _format(metrics: dict) -> str:
    return ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()
                     if key.startswith(("image_to_text", "text_to_image")))


def run_mode(config, workdir: str) -> dict:
    """`--mode=train_encoder`: train (or resume), evaluate retrieval, write and print metrics."""
    data = prepare.prepare(config, workdir)
    trainer = EncoderTrainer(config, data, workdir)
    writer = summaries.stage_writer(workdir, STAGE)
    trainer.train(writer)
    metrics = {"epochs": trainer.position.epochs_done,
               "skipped_steps": trainer.guard.skipped_steps, **trainer.evaluate()}
    pretraining = metrics_lib.read_json(os.path.join(trainer.directory, PRETRAINING_JSON), {})
    if pretraining:
        metrics["image_pretraining"] = pretraining
    writer.flush()
    path = metrics_lib.write_metrics(workdir, STAGE, metrics)
    print(f"sentence encoder, validation retrieval: {_format(metrics)}")
    print("chance: " + ", ".join(f"{k[len('chance_'):]} {v:.3f}" for k, v in metrics.items()
                                 if k.startswith("chance")))
    print(f"metrics written to {path}")
    return metrics
