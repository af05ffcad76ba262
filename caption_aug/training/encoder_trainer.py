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

from caption_aug import compiled
from caption_aug import distribute
from caption_aug import guard as guard_lib
from caption_aug.data import pipelines
from caption_aug.data import prepare
from caption_aug.evaluation import retrieval
from caption_aug.models import sentence_encoder
from caption_aug.training import encoder_pretraining
from caption_aug.training import epochs
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries

STAGE = layout.ENCODER
PRETRAINING_JSON = "image_pretraining.json"


class EncoderStep:
    """The encoder's guarded contrastive update: the encoder, its Adam optimiser, a non-finite
    guard and the compiled step."""

    def __init__(self, config, encoder):
        self.encoder = encoder
        # whether the image side has had its colour/shape pretraining (once per workdir)
        self.image_pretrained = tf.Variable(False, trainable=False)
        self.temperature = config.encoder.temperature
        self.optimizer = keras.optimizers.Adam(config.encoder.learning_rate)
        self.optimizer.build(encoder.trainable_variables)
        self.guard = guard_lib.NonFiniteGuard(STAGE, config.max_consecutive_skips,
                                              "encoder.learning_rate")
        size, max_tokens = config.pipeline.encoder_image_size, config.data.max_caption_tokens
        spec = {"image": tf.TensorSpec([None, size, size, 3], tf.float32),
                "token_ids": tf.TensorSpec([None, max_tokens], tf.int32),
                "padding_mask": tf.TensorSpec([None, max_tokens], tf.bool),
                "image_index": tf.TensorSpec([None], tf.int32)}
        # a distributed batch has per-replica types: no signature under several replicas
        self.train_step = compiled.function(
            self.update, input_signature=[spec] if distribute.replicas() == 1 else None)

    def checkpoint_objects(self) -> dict:
        return dict(encoder=self.encoder, optimizer=self.optimizer,
                    image_pretrained=self.image_pretrained, **self.guard.trackables())

    def update(self, batch) -> dict:
        """One guarded step (`NonFiniteGuard.update`). Under a strategy each replica embeds its
        share of `batch` and takes its share of the contrastive loss over the global batch's
        embeddings (`distribute.gather_batch`): every caption competes with every image, as on
        one device. A skipped step leaves batch-norm statistics untouched too. Returns whether
        it was applied, the loss and the batch's pairs."""
        variables = self.encoder.trainable_variables

        def loss_fn(replica_batch):
            out = self.encoder({"image": replica_batch["image"],
                                "token_ids": replica_batch["token_ids"],
                                "padding_mask": replica_batch["padding_mask"]}, training=True)
            images, texts = distribute.gather_batch((out["image_embedding"],
                                                     out["text_embedding"]))
            loss = distribute.share_of_global(sentence_encoder.contrastive_loss(
                images, texts, distribute.gather_batch(replica_batch["image_index"]),
                self.temperature))
            pairs = tf.cast(tf.shape(replica_batch["image_index"])[0], tf.float32)
            return loss, {"loss": loss, "pairs": pairs}

        applied, figures = self.guard.update(
            loss_fn, (batch,), variables, self.encoder.non_trainable_variables,
            lambda gradients: self.optimizer.apply(gradients, variables))
        return {"applied": applied, **figures}


def build_step(config, vocabulary_size: int) -> EncoderStep:
    """A fresh encoder (initial weights and dropout seeded by `config.seed`) and its step."""
    keras.utils.set_random_seed(config.seed)
    encoder = sentence_encoder.build_sentence_encoder(
        config.encoder, vocabulary_size, config.pipeline.encoder_image_size)
    return EncoderStep(config, encoder)


def train_batches(config, datasets: pipelines.Datasets, epoch: int) -> tf.data.Dataset:
    """One epoch's training batches (image, caption, image index), in an order fixed by
    (seed, epoch)."""
    dataset = datasets.matching("train", config.pipeline.encoder_image_size,
                                config.encoder.image_normalization, config.pipeline.batch_size,
                                training=True, seed=epochs.epoch_seed(config.seed, epoch))
    keys = ("image", "token_ids", "padding_mask", "image_index")
    dataset = dataset.map(lambda b: {k: b[k] for k in keys})
    steps = config.encoder.steps_per_epoch
    return dataset.take(steps) if steps else dataset


def evaluate(config, datasets: pipelines.Datasets, encoder) -> dict:
    """Validation recall@1/5 both ways (and chance levels)."""
    return retrieval.evaluate_retrieval(encoder, datasets, "validation",
                                        config.pipeline.encoder_image_size,
                                        config.encoder.image_normalization)


def pretrain_image_side(config, workdir: str, data: prepare.PreparedData, step: EncoderStep,
                        checkpointer) -> None:
    """`encoder.image_pretrain_steps` of colour/shape classification for the image side, once
    per workdir (checkpointed; a resumed run skips it), its result in `image_pretraining.json`."""
    steps = config.encoder.image_pretrain_steps
    if not steps or bool(step.image_pretrained.numpy()):
        return
    features = step.encoder.image_features
    image_input = keras.Input(features.input_shape[1:])
    split_images = encoder_pretraining.SplitImages(
        data, config.pipeline.encoder_image_size, config.encoder.image_normalization,
        config.data.cache_max_mb)
    result = encoder_pretraining.pretrain_attributes(
        image_input, features(image_input), split_images, steps,
        config.encoder.image_pretrain_batch_size, config.encoder.image_pretrain_learning_rate,
        config.seed, guard_lib.NonFiniteGuard("encoder_image_pretraining",
                                              config.max_consecutive_skips,
                                              "encoder.image_pretrain_learning_rate"),
        "sentence encoder image side")
    logging.info("pretrained image side on validation images: %s (%.0f s)",
                 result["validation_accuracy"], result["seconds"])
    metrics_lib.write_json(os.path.join(layout.stage_dir(workdir, STAGE), PRETRAINING_JSON),
                           result)
    step.image_pretrained.assign(True)
    checkpointer.save()


def train(config, workdir: str, data: prepare.PreparedData, datasets: pipelines.Datasets,
          step: EncoderStep, writer) -> epochs.EpochPosition:
    """Runs the rest of the schedule (from mid-epoch after a resume), after the image side's
    pretraining when asked for; validation retrieval after each epoch, a checkpoint every
    `encoder.checkpoint_every_steps` and at epoch end. Returns where training stands."""
    enc = config.encoder
    position, checkpointer = epochs.resume(workdir, STAGE, step.checkpoint_objects())
    pretrain_image_side(config, workdir, data, step, checkpointer)
    meter = epochs.schedule_meter("sentence encoder steps",
                                  len(data.splits["train"].flat_captions),
                                  config.pipeline.batch_size, enc, position)
    while position.epochs_done < enc.epochs:
        epoch = position.epochs_done
        start, pairs = time.time(), 0
        batches = position.rest_of_epoch(train_batches(config, datasets, epoch))
        for batch in distribute.distribute_batches(batches):
            figures = step.train_step(batch)
            step.guard.check()
            position.batch_done()
            pairs += int(figures["pairs"])
            iteration = position.steps_done
            meter.update(iteration)
            if iteration % enc.checkpoint_every_steps == 0:
                checkpointer.save()
            if iteration % enc.log_every_steps == 0:
                rate, loss = pairs / (time.time() - start), float(figures["loss"])
                logging.info("encoder epoch %d step %d: loss %.4f, %.0f pairs/s", epoch + 1,
                             iteration, loss, rate)
                summaries.write_scalars(writer, {
                    "contrastive_loss": loss, "pairs_per_second": rate,
                    "skipped_steps": step.guard.skipped_steps}, iteration, "train")
        metrics = evaluate(config, datasets, step.encoder)
        logging.info("encoder epoch %d done (%.0f s): %s", epoch + 1, time.time() - start,
                     _format(metrics))
        summaries.write_scalars(writer, {k: v for k, v in metrics.items()
                                         if not k.startswith("chance")},
                                position.steps_done, "validation")
        position.epoch_done()
        checkpointer.save()
    return position


def _format(metrics: dict) -> str:
    return ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()
                     if key.startswith(("image_to_text", "text_to_image")))


def run_mode(config, workdir: str) -> dict:
    """`--mode=train_encoder`: train (or resume), evaluate retrieval, write and print metrics."""
    data = prepare.prepare(config, workdir)
    datasets = pipelines.Datasets(config, data.splits, data.tokenizer)
    step = build_step(config, data.tokenizer.vocabulary_size)
    writer = summaries.stage_writer(workdir, STAGE)
    position = train(config, workdir, data, datasets, step, writer)
    metrics = {"epochs": position.epochs_done, "skipped_steps": step.guard.skipped_steps,
               **evaluate(config, datasets, step.encoder)}
    pretraining = metrics_lib.read_json(
        os.path.join(layout.stage_dir(workdir, STAGE), PRETRAINING_JSON), {})
    if pretraining:
        metrics["image_pretraining"] = pretraining
    writer.flush()
    path = metrics_lib.write_metrics(workdir, STAGE, metrics)
    print(f"sentence encoder, validation retrieval: {_format(metrics)}")
    print("chance: " + ", ".join(f"{k[len('chance_'):]} {v:.3f}" for k, v in metrics.items()
                                 if k.startswith("chance")))
    print(f"metrics written to {path}")
    return metrics
