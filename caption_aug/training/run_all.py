"""`--mode=all` (the default): the whole schedule in one workdir.

Data and tokenizer, warm-up of each stage (sentence encoder, caption LM, GAN, captioner), the test
evaluation of the warmed-up captioner (the "before" of the report), the joint phase, the test
evaluation of the joint captioner (beam sizes of `captioner.eval_beam_sizes`), the real-only
control arm (`control.py`: as many captioner updates as the joint phase gave, on the same real
batches, no synthetic pairs) and its evaluation, the SavedModel export of the joint captioner,
then WORKDIR/metrics.json and WORKDIR/report.md. Each finished phase is recorded in
metrics.json and skipped on a rerun; an interrupted phase resumes from its own checkpoints.
"""

import os
import time

from absl import logging

from caption_aug import progress
from caption_aug.data import prepare as prepare_lib
from caption_aug.evaluation import captioner_eval
from caption_aug.evaluation import report
from caption_aug.export import captioner_export
from caption_aug.training import captioner_trainer
from caption_aug.training import encoder_trainer
from caption_aug.training import gan_trainer
from caption_aug.training import lm_trainer
from caption_aug.training import run_estimate
from caption_aug.training.joint import control
from caption_aug.training.joint import trainer as joint_trainer
from caption_aug.workdir import metrics as metrics_lib
from caption_aug.workdir import trained


def _evaluate_captioner(config, workdir, prepared, model, name: str) -> dict:
    return captioner_eval.evaluate_test(config, workdir, prepared, model,
                                        out_dir=os.path.join(workdir, "evaluation", name))


def _phases(config, workdir: str, prepared):
    """(name, function returning the phase's metrics) in schedule order."""
    vocabulary = prepared.tokenizer.vocabulary_size

    def captioner_before_joint():
        model = trained.load_trained_captioner(config, workdir, vocabulary)
        return _evaluate_captioner(config, workdir, prepared, model, "captioner_before_joint")

    def captioner_after_joint():
        model = trained.load_joint_captioner(config, workdir, vocabulary)
        return _evaluate_captioner(config, workdir, prepared, model, "captioner_after_joint")

    def export():
        model = trained.load_joint_captioner(config, workdir, vocabulary)
        path = captioner_export.export_captioner(
            model, prepared.tokenizer, os.path.join(workdir, "export", "captioner"),
            config.pipeline.captioner_image_size, config.pipeline.captioner_normalization,
            config.captioner.export_beam_size, captioner_eval.decode_length(config),
            config.captioner.beam_search_jit_compile)
        return {"path": path, "beam_size": config.captioner.export_beam_size}

    return [
        ("data", lambda: prepared.summary),
        ("encoder", lambda: encoder_trainer.run_mode(config, workdir)),
        ("lm", lambda: lm_trainer.run_mode(config, workdir)),
        ("gan", lambda: gan_trainer.run_mode(config, workdir)),
        ("captioner_warmup", lambda: captioner_trainer.run_mode(config, workdir)),
        ("captioner_before_joint", captioner_before_joint),
        ("joint", lambda: joint_trainer.train(config, workdir, prepared)[0]),
        ("captioner_after_joint", captioner_after_joint),
        ("captioner_control", lambda: control.evaluate(config, workdir, prepared)),
        ("export", export),
    ]


def run_mode(config, workdir: str) -> dict:
    """Runs every phase not yet finished in `workdir`, then writes metrics.json and report.md."""
    metrics = run_phases(config, workdir)
    report_path = report.write_report(workdir, metrics)
    print(f"all phases done in {sum(metrics['seconds'].values()):.0f} s of work; metrics in "
          f"{os.path.join(workdir, metrics_lib.METRICS_JSON)}, report in {report_path}")
    return metrics


def run_phases(config, workdir: str, names=None) -> dict:
    """Runs the phases `names` (all when None; in schedule order) not yet recorded in
    WORKDIR/metrics.json, recording each as it ends; returns metrics.json's content. The study
    runs its arms' joint phases this way over warm-up stages that another workdir trained."""
    joint_trainer.require_supernet(config)   # before the hour of warm-up, not after
    path = os.path.join(workdir, metrics_lib.METRICS_JSON)
    metrics = metrics_lib.read_json(path, {"phases": {}, "seconds": {}})
    started = time.time()
    prepared = prepare_lib.prepare(config, workdir)
    if "data" not in metrics["seconds"]:
        metrics["seconds"]["data"] = round(time.time() - started, 1)
    phases = [(name, phase) for name, phase in _phases(config, workdir, prepared)
              if names is None or name in names]
    for number, (name, phase) in enumerate(phases, 1):
        if name in metrics["phases"]:
            logging.info("phase %s: already done in %s", name, workdir)
            continue
        logging.info("phase %d/%d %s: starting (%s of work so far, about %s left in all)", number,
                     len(phases), name, progress.duration(sum(metrics["seconds"].values())),
                     progress.duration(run_estimate.remaining_seconds(
                         config, len(prepared.splits["train"].flat_captions),
                         prepared.splits["test"].num_images, metrics["seconds"],
                         [later for later, _ in phases[number - 1:]
                          if later not in metrics["phases"]])))
        started = time.time()
        metrics["phases"][name] = phase()
        metrics["seconds"][name] = round(metrics["seconds"].get(name, 0.0)
                                         + time.time() - started, 1)
        metrics_lib.write_json(path, metrics)
        logging.info("phase %s: done in %.0f s", name, metrics["seconds"][name])
    return metrics

