"""`--mode=study`: runs every (setting, seed, arm) of `plan.settings`, resumably, then writes
WORKDIR/study.json and WORKDIR/report.md with its figures (`study.report`).

Per setting and seed, one `--mode=all` schedule (without its export) in
WORKDIR/<setting>/seed_<k> gives the warm-up, the control and the full arm; every other arm runs
its joint phase and test evaluation in WORKDIR/<setting>/seed_<k>/arms/<arm>, over the same
warmed-up stages (linked, not copied: they are only read). Each finished phase is recorded where it
ran, so a rerun after a kill resumes inside the run it stopped in.
"""

import gc
import os

import keras
from absl import logging

from caption_aug import progress
from caption_aug.study import plan as plan_lib
from caption_aug.study import report as report_lib
from caption_aug.training import run_all
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib

STUDY_JSON = "study.json"
SCHEDULE_PHASES = ("data", "encoder", "lm", "gan", "captioner_warmup", "captioner_before_joint",
                   "joint", "captioner_after_joint", "captioner_control")
ARM_PHASES = ("data", "joint", "captioner_after_joint")
# What an arm's workdir reads from its schedule's: the dataset, the tokenizer, the warm-up stages.
SHARED = ("tfds", "tokenizer", layout.ENCODER, layout.LM, layout.GAN, layout.CAPTIONER)


def share_warm_up(schedule_dir: str, arm_dir: str) -> None:
    """Links the schedule's dataset, tokenizer and warmed-up stages into the arm's workdir."""
    os.makedirs(arm_dir, exist_ok=True)
    for name in SHARED:
        link = os.path.join(arm_dir, name)
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(os.path.join(schedule_dir, name), arm_dir), link)


def arm_result(phases: dict, evaluation: str, seconds: float) -> dict:
    """One arm's record: its test figures, its joint phase (absent for the control) and its cost."""
    result = {"test": phases[evaluation], "seconds": round(seconds, 1)}
    if evaluation == "captioner_after_joint":
        result["joint"] = phases["joint"]
    return result


def _phase_seconds(metrics: dict, names) -> float:
    return sum(metrics["seconds"].get(name, 0.0) for name in names)


def run_setting_seed(config, setting: plan_lib.Setting, seed: int, directory: str,
                     save) -> dict:
    """Every arm of `setting` at `seed`: {"warmup", "arms": {arm: arm_result}, "pending_arms"},
    handed to `save` after the schedule and after each further arm."""
    metrics = run_all.run_phases(plan_lib.run_config(config, setting, seed, "full"), directory,
                                 SCHEDULE_PHASES)
    phases = metrics["phases"]
    record = {"warmup": {"test": phases["captioner_before_joint"],
                         "seconds": round(_phase_seconds(metrics, SCHEDULE_PHASES[:5]), 1)},
              "arms": {"control": arm_result(phases, "captioner_control",
                                             _phase_seconds(metrics, ["captioner_control"])),
                       "full": arm_result(phases, "captioner_after_joint",
                                          _phase_seconds(metrics, ["joint",
                                                                   "captioner_after_joint"]))},
              "pending_arms": [arm for arm in setting.arms if arm not in plan_lib.SCHEDULE_ARMS]}
    save(record)
    for arm in list(record["pending_arms"]):
        arm_dir = os.path.join(directory, "arms", arm)
        share_warm_up(directory, arm_dir)
        arm_metrics = run_all.run_phases(plan_lib.run_config(config, setting, seed, arm), arm_dir,
                                         ARM_PHASES)
        record["arms"][arm] = arm_result(arm_metrics["phases"], "captioner_after_joint",
                                         _phase_seconds(arm_metrics,
                                                        ["joint", "captioner_after_joint"]))
        record["pending_arms"].remove(arm)
        save(record)
        keras.backend.clear_session()
        gc.collect()
    return record


def _finished(study: dict, setting: plan_lib.Setting, seed: int) -> bool:
    run = study["settings"].get(setting.name, {}).get("seeds", {}).get(str(seed))
    return run is not None and not run.get("pending_arms")


def run_mode(config, workdir: str) -> dict:
    """Runs (or resumes) the whole study; writes study.json and the report after each arm, so
    that a long study can be read while it runs (a seed still running lists its pending arms)."""
    settings = plan_lib.settings(config)
    path = os.path.join(workdir, STUDY_JSON)
    study = metrics_lib.read_json(path, {"settings": {}})
    seeds = list(config.study.seeds)
    done = sum(_finished(study, setting, seed) for setting in settings for seed in seeds)
    meter = progress.Progress("study (setting, seed) runs", len(settings) * len(seeds), done=done,
                              every_seconds=0)
    for setting in settings:
        record = study["settings"].setdefault(setting.name, {
            "train_size": setting.train_size, "holdout": setting.holdout,
            "corrupt_fraction": setting.corrupt_fraction, "arms": list(setting.arms),
            "seeds": {}})
        for seed in seeds:
            if _finished(study, setting, seed):
                continue
            logging.info("study: %s, seed %d (arms %s)", setting.name, seed,
                         ", ".join(setting.arms))

            def save(run, seed=seed):
                record["seeds"][str(seed)] = run
                record["seeds"] = dict(sorted(record["seeds"].items()))
                metrics_lib.write_json(path, study)
                report_lib.write_report(workdir, study)   # what is done so far, readable now

            run_setting_seed(config, setting, seed,
                             os.path.join(workdir, setting.name, f"seed_{seed}"), save)
            keras.backend.clear_session()
            gc.collect()
            done += 1
            meter.update(done)
    report_path = report_lib.write_report(workdir, study)
    print(f"study done: {path}, report in {report_path}")
    return study
