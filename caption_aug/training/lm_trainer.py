"""`--mode=train_lm`: trains the stage-1 caption LM with the weighted loss sum_i a_i L_i, then
evaluates it (held-out perplexity, generated-caption diversity/novelty/validity, example table).

Writes under the workdir: `lm/checkpoints/` (model, optimizer, caption weight logits A, epoch;
a rerun resumes at the next batch), `lm/preset/` (the trained model as a keras-hub
preset, loadable through `config.lm.preset`), `lm/metrics.json`, `lm/examples.md`, and
TensorBoard scalars and the example table under `tensorboard/lm/`.

With `config.lm.text_only_source` (a COCO captions JSON) the LM trains on that file's captions
alone: the LM never sees images, so none are read or validated. The captions are normalised and
checked like any others (bad ones counted and logged), split by image with
`data.validation_fraction`/`data.test_fraction`, and, in a fresh workdir, they are what the shared
tokenizer is fitted on.
"""

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import compiled
from caption_aug import distribute
from caption_aug import guard as guard_lib
from caption_aug.data import corpus
from caption_aug.data import example as example_lib
from caption_aug.data import pipelines
from caption_aug.data import prepare
from caption_aug.data.readers import text_only
from caption_aug.evaluation import lm_eval
from caption_aug.models import caption_lm
from caption_aug.text import tokenizer as tokenizer_lib
from caption_aug.training import epochs
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries

STAGE = layout.LM


@dataclasses.dataclass
class LMCorpus:
    """What the LM trains and is evaluated on: tokenised train/validation captions."""
    train: corpus.Split
    validation: corpus.Split
    tokenizer: tokenizer_lib.CaptionTokenizer
    caption_shapes: bool          # whether generated captions can be parsed into scenes


def load_corpus(config, workdir: str) -> LMCorpus:
    """The prepared dataset's captions, or those of `config.lm.text_only_source`."""
    if not config.lm.text_only_source:
        data = prepare.prepare(config, workdir)
        return LMCorpus(data.splits["train"], data.splits["validation"], data.tokenizer,
                        config.data.source == "caption_shapes")
    skips = example_lib.SkipCounter()
    examples = text_only.read_text_only_captions(config.lm.text_only_source,
                                                 config.data.max_caption_words, skips)
    if skips.total():
        logging.warning("%s: skipped %s", config.lm.text_only_source, skips.as_dict())
    parts = prepare.split_by_fraction(examples, config.data.validation_fraction,
                                      config.data.test_fraction, config.seed)
    splits = {name: corpus.Split(name, np.array([ex.image_id for ex in part], np.int64),
                                 [ex.image for ex in part], [list(ex.captions) for ex in part])
              for name, part in parts.items()}
    if not splits["train"].flat_captions or not splits["validation"].flat_captions:
        raise ValueError(f"config key lm.text_only_source={config.lm.text_only_source!r} gives "
                         "no train or no validation captions")
    tok = tokenizer_lib.get_or_create(
        os.path.join(workdir, "tokenizer"), config.tokenizer.source, splits["train"].flat_captions,
        config.tokenizer.vocab_size, config.tokenizer.min_frequency)
    for split in splits.values():
        split.caption_tokens = tok.encode(split.flat_captions)
    logging.info("text-only LM corpus: %d train / %d validation captions",
                 len(splits["train"].flat_captions), len(splits["validation"].flat_captions))
    return LMCorpus(splits["train"], splits["validation"], tok, caption_shapes=False)


class LMStep:
    """The LM's guarded update on sum_i a_i L_i with A fixed, shared by its trainer and the joint
    phase: the model, A, an AdamW optimiser and a non-finite guard."""

    def __init__(self, lm_config, model, weight_logits, max_consecutive_skips: int,
                 name: str = STAGE):
        self.model = model
        self.weight_logits = weight_logits
        self.clip_norm = lm_config.gradient_clip_norm
        # No `global_clipnorm`: under a strategy the optimiser would clip each replica's share;
        # `update` clips the summed gradient instead.
        self.optimizer = keras.optimizers.AdamW(
            learning_rate=lm_config.learning_rate, weight_decay=lm_config.weight_decay,
            name=f"{name}_adamw")
        self.optimizer.build(model.trainable_variables)
        self.guard = guard_lib.NonFiniteGuard(name, max_consecutive_skips, "lm.learning_rate")
        spec = {"token_ids": tf.TensorSpec([None, None], tf.int32),
                "padding_mask": tf.TensorSpec([None, None], tf.bool),
                "caption_index": tf.TensorSpec([None], tf.int32)}
        # a distributed batch has per-replica types: no signature under several replicas
        self.train_step = compiled.function(
            self.update, input_signature=[spec] if distribute.replicas() == 1 else None,
            reduce_retracing=True)

    def checkpoint_objects(self) -> dict:
        return dict(model=self.model, optimizer=self.optimizer,
                    caption_weight_logits=self.weight_logits, **self.guard.trackables())

    def update(self, batch) -> dict:
        """One guarded step on sum_i a_i L_i (`NonFiniteGuard.update`: each replica on its share
        of `batch` under a strategy), the gradient clipped to `lm.gradient_clip_norm` by its
        global norm; returns whether it was applied, the weighted loss, the mean L_i
        ("caption_loss") and the batch's target tokens. A skipped step leaves the dropout seeds
        untouched too."""
        variables = self.model.trainable_variables

        def loss_fn(replica_batch):
            losses = caption_lm.batch_losses(self.model, replica_batch, training=True)
            loss = caption_lm.weighted_lm_loss(losses, self.weight_logits,
                                               replica_batch["caption_index"])
            tokens = tf.reduce_sum(tf.cast(replica_batch["padding_mask"], tf.float32))
            return loss, {"loss": loss, "caption_loss": distribute.global_mean(losses),
                          "tokens": tokens}

        applied, figures = self.guard.update(
            loss_fn, (batch,), variables, self.model.non_trainable_variables,
            lambda gradients: self.optimizer.apply(gradients, variables),
            lambda gradients: tf.clip_by_global_norm(gradients, self.clip_norm)[0])
        return {"applied": applied, **figures}


def build_step(config, lm_corpus: LMCorpus) -> LMStep:
    """A fresh LM (initial weights and dropout seeded by `config.seed`) with A at
    `lm.initial_caption_weight`."""
    keras.utils.set_random_seed(config.seed)
    model = caption_lm.build_caption_lm(config.lm, lm_corpus.tokenizer.vocabulary_size)
    weight_logits = tf.Variable(
        caption_lm.initial_weight_logits(len(lm_corpus.train.flat_captions),
                                         config.lm.initial_caption_weight),
        trainable=False, name="caption_weight_logits")
    return LMStep(config.lm, model, weight_logits, config.max_consecutive_skips)


def corpus_datasets(config, lm_corpus: LMCorpus) -> pipelines.Datasets:
    """The pipelines of the LM's train and validation captions."""
    splits = {"train": lm_corpus.train, "validation": lm_corpus.validation}
    return pipelines.Datasets(config, splits, lm_corpus.tokenizer)


def train_batches(config, datasets: pipelines.Datasets, epoch: int) -> tf.data.Dataset:
    """One epoch's training batches, in an order fixed by (seed, epoch)."""
    dataset = datasets.lm("train", training=True, seed=epochs.epoch_seed(config.seed, epoch))
    steps = config.lm.steps_per_epoch
    return dataset.take(steps) if steps else dataset


def train(config, workdir: str, lm_corpus: LMCorpus, step: LMStep, writer
          ) -> epochs.EpochPosition:
    """Runs the rest of the schedule (from mid-epoch after a resume); validation perplexity
    after each epoch, a checkpoint every `lm.checkpoint_every_steps` steps and at epoch end.
    Returns where training stands."""
    lm = config.lm
    position, checkpointer = epochs.resume(workdir, STAGE, step.checkpoint_objects())
    datasets = corpus_datasets(config, lm_corpus)
    validation_data = datasets.lm("validation", training=False)
    meter = epochs.schedule_meter("caption LM steps", len(lm_corpus.train.flat_captions),
                                  config.pipeline.batch_size, lm, position)
    while position.epochs_done < lm.epochs:
        epoch = position.epochs_done
        start, tokens = time.time(), 0
        batches = position.rest_of_epoch(train_batches(config, datasets, epoch))
        for batch in distribute.distribute_batches(batches):
            figures = step.train_step(batch)
            step.guard.check()
            position.batch_done()
            loss, mean_loss = float(figures["loss"]), float(figures["caption_loss"])
            tokens += int(figures["tokens"])
            iteration = position.steps_done
            meter.update(iteration)
            if iteration % lm.log_every_steps == 0:
                rate = tokens / (time.time() - start)
                logging.info("lm epoch %d step %d: weighted loss %.4f, mean caption loss %.4f, "
                             "%.0f tokens/s", epoch + 1, iteration, loss, mean_loss, rate)
                summaries.write_scalars(writer, {
                    "weighted_loss": loss, "caption_loss": mean_loss, "tokens_per_second": rate,
                    "skipped_steps": step.guard.skipped_steps}, iteration, "train")
            if iteration % lm.checkpoint_every_steps == 0:
                checkpointer.save()
        validation_perplexity = lm_eval.perplexity(step.model, validation_data)
        logging.info("lm epoch %d done: validation perplexity %.3f (%.0f s)", epoch + 1,
                     validation_perplexity, time.time() - start)
        summaries.write_scalars(writer, {"perplexity": validation_perplexity},
                                position.steps_done, "validation")
        position.epoch_done()
        checkpointer.save()
    return position


def evaluate(config, workdir: str, lm_corpus: LMCorpus, step: LMStep,
             position: epochs.EpochPosition, writer) -> dict:
    """Validation perplexity, and metrics plus an example table of captions generated from
    the first words of a seeded sample of train captions; writes metrics.json and examples.md."""
    gen = config.lm.generation
    tok = lm_corpus.tokenizer
    model = step.model
    train_captions = lm_corpus.train.flat_captions
    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(len(train_captions), min(gen.num_eval_prompts, len(train_captions)),
                        replace=False)
    originals = [train_captions[k] for k in chosen]
    # XLA cannot read a mirrored variable's copy on another device: plain graphs under replicas
    caption_lm.compile_for_generation(model, gen, seed=config.seed,
                                      jit_compile=distribute.replicas() == 1)
    start = time.time()
    generated_ids = caption_lm.generate_captions(
        model, tok, caption_lm.prompt_tokens(originals, tok, gen.prompt_words), gen.max_length,
        gen.batch_size)
    generation_seconds = time.time() - start
    generated = [tok.decode(ids).strip() for ids in generated_ids]
    metrics = {
        "validation_perplexity": lm_eval.perplexity(
            model, corpus_datasets(config, lm_corpus).lm("validation", training=False)),
        "train_captions": len(train_captions),
        "validation_captions": len(lm_corpus.validation.flat_captions),
        "epochs": position.epochs_done,
        "skipped_steps": step.guard.skipped_steps,
        "sampler": gen.sampler, "num_beams": gen.num_beams,
        "generated_captions": len(generated),
        "generation_captions_per_second": len(generated) / generation_seconds,
        **lm_eval.generation_metrics(generated, train_captions, lm_corpus.caption_shapes)}
    rows = slice(0, gen.num_table_rows)
    prompts = caption_lm.prompt_texts(originals[rows], gen.prompt_words)
    table = lm_eval.example_table(prompts, generated[rows], originals[rows])
    metrics["examples"] = [{"prompt": p, "generated": g, "real": o}
                           for p, g, o in zip(prompts, generated[rows], originals[rows])]
    summaries.write_scalars(writer, {k: v for k, v in metrics.items() if isinstance(v, float)},
                            position.steps_done, "eval")
    summaries.write_text(writer, "eval/generated_captions", table, position.steps_done)
    with open(os.path.join(layout.stage_dir(workdir, STAGE), "examples.md"), "w") as f:
        f.write(table + "\n")
    metrics_lib.write_metrics(workdir, STAGE, metrics)
    return metrics


def run_mode(config, workdir: str) -> dict:
    """`--mode=train_lm`: train (or resume), save the preset, evaluate, print the summary."""
    lm_corpus = load_corpus(config, workdir)
    step = build_step(config, lm_corpus)
    writer = summaries.stage_writer(workdir, STAGE)
    position = train(config, workdir, lm_corpus, step, writer)
    stage_dir = layout.stage_dir(workdir, STAGE)
    step.model.save_to_preset(os.path.join(stage_dir, "preset"))
    metrics = evaluate(config, workdir, lm_corpus, step, position, writer)
    writer.flush()
    print(f"caption LM: validation perplexity {metrics['validation_perplexity']:.3f}; "
          f"distinct-1 {metrics['distinct_1']:.3f}, distinct-2 {metrics['distinct_2']:.3f}, "
          f"novelty {metrics['novelty']:.3f}, self-BLEU-4 {metrics['self_bleu_4']:.3f}"
          + (f", valid scenes {metrics['valid_scene_fraction']:.3f}"
             if "valid_scene_fraction" in metrics else ""))
    with open(os.path.join(stage_dir, "examples.md")) as f:
        print(f.read())
    print(f"metrics written to {metrics_lib.metrics_path(workdir, STAGE)}")
    return metrics
