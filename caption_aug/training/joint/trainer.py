"""`--mode=joint`: stage 4, the joint phase that trains all four levels together from the warmed-up
stages (WORKDIR/{encoder,lm,gan,captioner}) and learns the caption weights A and the
discriminator architecture B by the captioner's validation hypergradient.

The workdir gets `joint/checkpoints/` (every model, optimiser, A, B and the iteration: a rerun
resumes), `joint/synthetic_captions.jsonl` (the text of every synthetic caption the phase drew, one
line per draw), `joint/metrics.json` (A and B statistics, the diversity and validity of those
synthetic captions, timings) and TensorBoard events under `tensorboard/joint/` (losses of every
stage, hypergradient norms, the A histogram, the highest and lowest weighted captions, softmax(B)).
"""

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from caption_aug import progress
from caption_aug.data import corruption
from caption_aug.data import pipelines
from caption_aug.data import prepare as prepare_lib
from caption_aug.evaluation import lm_eval
from caption_aug.models.stage2gan import factory as gan_factory
from caption_aug.training import gan_trainer as gan_trainer_lib
from caption_aug.training.joint import caption_sampler
from caption_aug.training.joint import problem as joint_problem
from caption_aug.training.joint import step as joint_step_lib
from caption_aug.workdir import checkpoints
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import summaries
from caption_aug.workdir import trained

STAGE = layout.JOINT
SYNTHETIC_CAPTIONS = "synthetic_captions.jsonl"


@dataclasses.dataclass
class JointRun:
    """Everything the joint phase trains and how it is saved."""
    step: joint_step_lib.JointStep
    sampler: caption_sampler.CaptionSampler
    iteration: tf.Variable
    checkpointer: checkpoints.Checkpointer

    @property
    def iterations_done(self) -> int:
        return int(self.iteration.numpy())  # int() of a mirrored variable fails


def load_gan_step(config, workdir: str, vocabulary_size: int):
    """The GAN step restored from WORKDIR/gan/checkpoints (raises when train_gan has not run),
    its generator set to the moving average that the GAN stage sampled and scored."""
    gan = config.gan
    models = gan_factory.build_models(
        gan, config.pipeline.gan_image_size, vocabulary_size, config.seed,
        gan_trainer_lib.load_architecture(gan.derived_architecture),
        conditioning=gan_trainer_lib.load_conditioning(config, workdir, vocabulary_size))
    trainer = gan_trainer_lib.GanStep(gan, models, config.seed, config.max_consecutive_skips)
    checkpoints.restore_stage(workdir, layout.GAN, trainer.checkpoint_objects())
    trainer.generator_from_average()
    return trainer


def load_warm_models(config, workdir: str, prepared):
    """(JointModels, A, GAN step) from the stages' warm-up checkpoints in `workdir`."""
    vocabulary = prepared.tokenizer.vocabulary_size
    lm, weight_logits = trained.load_trained_lm(
        config, workdir, vocabulary, len(prepared.splits["train"].flat_captions))
    gan = load_gan_step(config, workdir, vocabulary)
    captioner = trained.load_trained_captioner(config, workdir, vocabulary)
    models = joint_problem.JointModels(
        lm=lm, embed_text=gan.models.conditioning.embed, generator=gan.models.generator,
        discriminator=gan.models.discriminator, captioner=captioner,
        generator_objective=gan.generator_objective)
    return models, weight_logits, gan


def build_run(config, workdir: str, prepared) -> JointRun:
    """The joint step over the warmed-up models, resumed from `joint/checkpoints` when there."""
    keras.utils.set_random_seed(config.seed)  # what the models draw when built, per run
    models, weight_logits, gan = load_warm_models(config, workdir, prepared)
    step = joint_step_lib.JointStep(config, models, weight_logits, gan)
    iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="joint_iteration")
    checkpointer = checkpoints.resume_or_start(layout.checkpoint_dir(workdir, STAGE), dict(
        lm=models.lm, caption_weight_logits=weight_logits, gan=gan.checkpoint_objects(),
        captioner=models.captioner, iteration=iteration, **step.checkpoint_objects()))
    sampler = caption_sampler.CaptionSampler(
        models.lm, prepared.tokenizer, prepared.splits["train"], config.lm.generation,
        config.gan.noise_dim, config.seed)
    return JointRun(step, sampler, iteration, checkpointer)


def captioner_stream(datasets: pipelines.Datasets, split: str, seed: int, done: int):
    """An endless iterator over a split's shuffled captioner batches in an order fixed by `seed`,
    positioned after the `done` batches already taken."""
    return iter(datasets.captioner(split, training=True, seed=seed).repeat().skip(done))


def real_stream(config, datasets: pipelines.Datasets, done: int):
    """The real training pairs of the joint phase's captioner updates (also the control arm's)."""
    return captioner_stream(datasets, "train", config.seed + 2, done)


def batch_streams(config, datasets: pipelines.Datasets, done_iterations: int) -> dict:
    """Endless iterators over the real batches joint iterations take, positioned after the
    `done_iterations` already run, so a resumed run sees what an uninterrupted one would."""
    gan_batches = gan_trainer_lib.training_batches(config, datasets)
    return {
        "lm": iter(datasets.lm("train", training=True, seed=config.seed + 1)
                   .repeat().skip(done_iterations)),
        "gan": iter(gan_batches.skip(done_iterations * (1 + config.gan.generator_steps))),
        "real": real_stream(config, datasets, done_iterations),
        "validation": captioner_stream(datasets, "validation", config.seed + 3, done_iterations),
    }


def next_batches(streams: dict, sampler, config, draw: int) -> dict:
    """One iteration's inputs: LM, 1 + gan.generator_steps GAN, real, validation and synthetic."""
    synthetic = sampler.sample(config.joint.synthetic_batch_size, draw)
    return {
        "lm": _lm_keys(next(streams["lm"])),
        "gan": [next(streams["gan"]) for _ in range(1 + config.gan.generator_steps)],
        "real": next(streams["real"]), "validation": next(streams["validation"]),
        "synthetic": {k: synthetic[k] for k in
                      ("token_ids", "padding_mask", "generated_mask", "noise")},
    }


def _lm_keys(batch: dict) -> dict:
    return {k: batch[k] for k in ("token_ids", "padding_mask", "caption_index")}


def caption_weights(weight_logits) -> np.ndarray:
    """a = sigmoid(A), in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(weight_logits, np.float64)))


def caption_weight_report(weight_logits, flat_captions, rows: int) -> dict:
    """a = sigmoid(A): summary statistics and the highest and lowest weighted captions."""
    a = caption_weights(weight_logits)
    order = np.argsort(a)
    return {
        "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
        "max": float(a.max()), "fraction_below_half": float((a < 0.5).mean()),
        "highest": [{"index": int(i), "weight": float(a[i]), "caption": flat_captions[i]}
                    for i in order[::-1][:rows]],
        "lowest": [{"index": int(i), "weight": float(a[i]), "caption": flat_captions[i]}
                   for i in order[:rows]],
    }


def corrupted_caption_report(weight_logits, corrupted, initial_weight: float) -> dict:
    """How a = sigmoid(A) separates the word-shuffled train captions (`data.corrupt_fraction`)
    from the clean ones: the AUC over all captions and over those whose a has moved from its start
    (a caption no LM batch of the phase held keeps its initial weight and can only tie; chance 0.5),
    with the mean a of each group."""
    a = caption_weights(weight_logits)
    bad = np.zeros(len(a), dtype=bool)
    bad[corrupted] = True
    moved = np.abs(a - initial_weight) > 1e-6
    report = {"corrupted": int(bad.sum()), "clean": int((~bad).sum()),
              "moved": int(moved.sum()), "moved_corrupted": int((moved & bad).sum()),
              "mean_weight_clean": float(a[~bad].mean()),
              "mean_weight_corrupted": float(a[bad].mean()),
              "auc": corruption.separation_auc(a, corrupted)}
    if (moved & bad).any() and (moved & ~bad).any():
        report["auc_moved"] = corruption.separation_auc(a[moved], np.flatnonzero(bad[moved]))
    return report


def synthetic_caption_report(log_path: str, flat_captions, caption_shapes: bool,
                             iterations: int) -> dict:
    """`lm_eval.generation_metrics` over every synthetic caption the phase drew (the log at
    `log_path`), with how many draws and captions that is."""
    draws = caption_sampler.read_log(log_path)
    if len(draws) != iterations:
        logging.warning("%s holds %d draws, the joint phase made %d: its synthetic-caption "
                        "metrics cover only those", log_path, len(draws), iterations)
    texts = [text for captions in draws.values() for text in captions]
    return {"draws": len(draws), "captions": len(texts),
            **lm_eval.generation_metrics(texts, flat_captions, caption_shapes)}


def write_figures(workdir: str, weight_logits, discriminator) -> None:
    """joint/caption_weights.png (the histogram of a) and joint/arch_weights.png (softmax(B))."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.hist(caption_weights(weight_logits), bins=50)
    axis.set_xlabel("caption weight a = sigmoid(A)")
    axis.set_ylabel("training captions")
    with open(os.path.join(workdir, STAGE, "caption_weights.png"), "wb") as f:
        f.write(summaries.figure_png(figure))
    gan_trainer_lib.write_png(os.path.join(workdir, STAGE, "arch_weights.png"),
                              gan_trainer_lib.arch_weights_image(
                                  keras.ops.convert_to_numpy(discriminator.arch_weights)))


def architecture_report(discriminator) -> dict:
    """softmax(B) per edge and the derived discrete architecture."""
    b = keras.ops.convert_to_numpy(discriminator.arch_weights)
    softmax = np.exp(b - b.max(axis=-1, keepdims=True))
    softmax /= softmax.sum(axis=-1, keepdims=True)
    return {"softmax": softmax.round(4).tolist(), "derived": discriminator.derive()}


class Monitor:
    """TensorBoard for the joint phase: every stage's losses, the hypergradient, A and B."""

    def __init__(self, workdir: str, flat_captions, rows: int):
        self.writer = summaries.stage_writer(workdir, STAGE)
        self.flat_captions = flat_captions
        self.rows = rows

    def write(self, step: int, figures: dict, run: JointRun) -> None:
        summaries.write_scalars(self.writer, figures, step)
        weights = keras.ops.convert_to_numpy(run.step.weight_logits)
        report = caption_weight_report(weights, self.flat_captions, self.rows)
        with self.writer.as_default(step=step):
            tf.summary.histogram("caption_weights/a", caption_weights(weights))
        for end in ("highest", "lowest"):
            table = summaries.markdown_table(
                ["weight", "caption"], [[f"{r['weight']:.4f}", r["caption"]] for r in report[end]])
            summaries.write_text(self.writer, f"caption_weights/{end}", table, step)
        discriminator = run.step.models.discriminator
        picture = gan_trainer_lib.arch_weights_image(
            keras.ops.convert_to_numpy(discriminator.arch_weights))
        with self.writer.as_default(step=step):
            tf.summary.image("architecture/softmax_B", picture[None], step=step)
        self.writer.flush()


def train(config, workdir: str, prepared) -> tuple:
    """Runs (or resumes) the joint phase to `joint.iterations`; returns (metrics, JointRun)."""
    joint = config.joint
    run = build_run(config, workdir, prepared)
    streams = batch_streams(config, pipelines.Datasets(config, prepared.splits,
                                                       prepared.tokenizer), run.iterations_done)
    flat_captions = prepared.splits["train"].flat_captions
    os.makedirs(os.path.join(workdir, STAGE), exist_ok=True)
    log_path = os.path.join(workdir, STAGE, SYNTHETIC_CAPTIONS)
    caption_sampler.truncate_log(log_path, run.iterations_done)  # draws past the checkpoint
    monitor = Monitor(workdir, flat_captions, config.lm.generation.num_table_rows)
    seconds = {"with_hypergradient": [], "without_hypergradient": []}
    logging.info("joint phase: %d iterations, hypergradient %s every %d, lambda %g",
                 joint.iterations, joint.hypergradient, joint.hypergradient_every,
                 joint.synthetic_weight)
    meter = progress.Progress("joint iterations", joint.iterations, done=run.iterations_done)
    while run.iterations_done < joint.iterations:
        step = run.iterations_done
        with_hypergradient = step % joint.hypergradient_every == 0 and (
            joint.update_caption_weights or joint.update_architecture)  # else nothing uses it
        started = time.time()
        batches = next_batches(streams, run.sampler, config, draw=step)
        figures = {k: float(v) for k, v in run.step(batches, with_hypergradient).items()}
        run.step.check_guards()
        figures["seconds_per_iteration"] = time.time() - started
        caption_sampler.append_draw(
            log_path, step, caption_sampler.caption_texts(batches["synthetic"]["token_ids"],
                                                          prepared.tokenizer),
            figures.get("hypergradient/validation_loss"))
        seconds["with_hypergradient" if with_hypergradient else "without_hypergradient"].append(
            figures["seconds_per_iteration"])
        run.iteration.assign_add(1)
        done = run.iterations_done
        meter.update(done)
        if done % joint.log_every == 0 or done == joint.iterations:
            monitor.write(done, figures, run)
            logging.info("joint iteration %d/%d: %s", done, joint.iterations, ", ".join(
                f"{k} {v:.4g}" for k, v in sorted(figures.items())))
        if done % joint.checkpoint_every == 0 or done == joint.iterations:
            run.checkpointer.save(done)
    metrics = phase_metrics(config, run, log_path, flat_captions, seconds,
                            corruption.read_indices(workdir))
    metrics["validation_loss_by_iteration"] = caption_sampler.read_validation_losses(log_path)
    write_figures(workdir, keras.ops.convert_to_numpy(run.step.weight_logits),
                  run.step.models.discriminator)
    metrics_lib.write_metrics(workdir, STAGE, metrics)
    return metrics, run


def phase_metrics(config, run: JointRun, log_path: str, flat_captions, seconds: dict,
                  corrupted=None) -> dict:
    """What the phase reports: A and B (and how A ranks the `corrupted` train captions, when
    there are any), its synthetic captions, skipped updates, its pace."""
    weights = keras.ops.convert_to_numpy(run.step.weight_logits)
    return {
        "iterations": run.iterations_done,
        "caption_weights": caption_weight_report(weights, flat_captions,
                                                 config.lm.generation.num_table_rows),
        **({"corrupted_captions": corrupted_caption_report(
            weights, corrupted, config.lm.initial_caption_weight)} if corrupted else {}),
        "architecture": architecture_report(run.step.models.discriminator),
        "synthetic_captions": synthetic_caption_report(
            log_path, flat_captions, config.data.source == "caption_shapes", run.iterations_done),
        "skipped_steps": run.step.skipped_steps(),
        "seconds_per_iteration_this_run": {
            k: float(np.median(v)) for k, v in seconds.items() if v},
        "settings": {k: config.joint[k] for k in ("synthetic_weight", "real_weight",
                                                  "hypergradient", "update_caption_weights",
                                                  "update_architecture", "update_lm_and_gan")},
    }


def require_supernet(config) -> None:
    """Fails at once, naming the key, when the GAN trains a fixed discriminator: the joint phase
    searches B, which only the supernet has."""
    if config.gan.derived_architecture:
        raise ValueError(f"config key gan.derived_architecture={config.gan.derived_architecture!r}"
                         ': the joint phase searches B and needs the supernet discriminator ("")')


def run_mode(config, workdir: str) -> dict:
    """`--mode=joint`: the joint phase over the stages already trained in `workdir`."""
    require_supernet(config)
    prepared = prepare_lib.prepare(config, workdir)
    metrics, _ = train(config, workdir, prepared)
    synthetic = metrics["synthetic_captions"]
    print(f"joint phase: {metrics['iterations']} iterations; caption weights a: mean "
          f"{metrics['caption_weights']['mean']:.4f}, min {metrics['caption_weights']['min']:.4f}; "
          f"derived architecture {metrics['architecture']['derived']['architecture']}; "
          f"synthetic captions: distinct-2 {synthetic['distinct_2']:.3f}, self-BLEU-4 "
          f"{synthetic['self_bleu_4']:.3f}"
          + (f", valid scenes {synthetic['valid_scene_fraction']:.3f}"
             if "valid_scene_fraction" in synthetic else ""))
    return metrics
