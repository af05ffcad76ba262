"""`--mode=study`: runs every (setting, seed, arm) of `plan.settings`, resumably, then writes
WORKDIR/study.json and WORKDIR/report.md with its figures (`study.report`).

Per setting and seed, one `--mode=all` schedule (without its export) in
WORKDIR/<setting>/seed_<k> gives the warm-up, the control and the full arm; every other arm runs
its joint phase and test evaluation in WORKDIR/<setting>/seed_<k>/arms/<arm>, over the same
warmed-up stages (linked, not copied: they are only read). Each (setting, seed) runs in a fresh
process and keeps its record in its folder (RUN_RECORD); each finished phase is recorded where it
ran, so a rerun after a kill resumes inside the run it stopped in.
"""

import gc
import glob
import multiprocessing
import os
from concurrent import futures

import keras
from absl import logging

from caption_aug import precision
from caption_aug import progress
from caption_aug.study import plan as plan_lib
from caption_aug.study import report as report_lib
from caption_aug.training import run_all
from caption_aug.workdir import layout
from caption_aug.workdir import metrics as metrics_lib

STUDY_JSON = "study.json"
RUN_RECORD = "study_run.json"   # one (setting, seed)'s record, in its folder
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


def run_setting_seed(config, setting: plan_lib.Setting, seed: int, directory: str) -> dict:
    """Every arm of `setting` at `seed`: {"warmup", "arms": {arm: arm_result}, "pending_arms"},
    written to `directory`/RUN_RECORD after the schedule and after each further arm."""
    path = os.path.join(directory, RUN_RECORD)
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
    metrics_lib.write_json(path, record)
    for arm in list(record["pending_arms"]):
        arm_dir = os.path.join(directory, "arms", arm)
        share_warm_up(directory, arm_dir)
        arm_metrics = run_all.run_phases(plan_lib.run_config(config, setting, seed, arm), arm_dir,
                                         ARM_PHASES)
        record["arms"][arm] = arm_result(arm_metrics["phases"], "captioner_after_joint",
                                         _phase_seconds(arm_metrics,
                                                        ["joint", "captioner_after_joint"]))
        record["pending_arms"].remove(arm)
        metrics_lib.write_json(path, record)
        keras.backend.clear_session()
        gc.collect()
    return record


def _run_in_child(config, setting: plan_lib.Setting, seed: int, directory: str) -> None:
    """A spawned process's (setting, seed): the entry point's logging and dtype policy first."""
    logging.use_absl_handler()
    logging.set_verbosity(logging.INFO)
    logging.info("study: %s, seed %d (arms %s)", setting.name, seed, ", ".join(setting.arms))
    precision.set_policy(config.mixed_precision)
    try:
        run_setting_seed(config, setting, seed, directory)
    except Exception:   # logged here and now: the study reports it when its other runs end
        logging.exception("study: %s, seed %d failed", setting.name, seed)
        raise


def _run_directory(workdir: str, setting: plan_lib.Setting, seed: int) -> str:
    """Where a (setting, seed) runs: its schedule, its arms' folders and its record."""
    return os.path.join(workdir, setting.name, f"seed_{seed}")


def collect(workdir: str, settings) -> dict:
    """study.json's content from the runs' records in `workdir`: the settings that have started,
    with every seed that has (also those of earlier invocations with other `study.seeds`; a
    running seed lists its pending arms)."""
    study = {"settings": {}}
    for setting in settings:
        paths = glob.glob(os.path.join(workdir, setting.name, "seed_*", RUN_RECORD))
        by_seed = {int(os.path.basename(os.path.dirname(p))[len("seed_"):]): p for p in paths}
        runs = {str(seed): metrics_lib.read_json(by_seed[seed], None) for seed in sorted(by_seed)}
        if runs:
            study["settings"][setting.name] = {
                "train_size": setting.train_size, "holdout": setting.holdout,
                "corrupt_fraction": setting.corrupt_fraction, "arms": list(setting.arms),
                "seeds": runs}
    return study


def _finished(workdir: str, setting: plan_lib.Setting, seed: int) -> bool:
    run = metrics_lib.read_json(os.path.join(_run_directory(workdir, setting, seed), RUN_RECORD),
                                None)
    return run is not None and not run["pending_arms"]


def selected(config, settings) -> list:
    """The settings `study.only` names (all when empty)."""
    names = [setting.name for setting in settings]
    unknown = [name for name in config.study.only if name not in names]
    if unknown:
        raise ValueError(f"config key study.only={tuple(config.study.only)!r} is invalid: "
                         f"expected settings among {tuple(names)}")
    return [s for s in settings if not config.study.only or s.name in config.study.only]


def run_mode(config, workdir: str) -> dict:
    """Runs (or resumes) the study's settings (`study.only`: some of them), `study.parallel_runs`
    (setting, seed) runs at a time, each in a fresh process (one process for all would grow by
    ~0.8 GB per run); rewrites study.json and the report, over every setting that has run here,
    every minute and after each run, so that a long study can be read while it runs."""
    settings = plan_lib.settings(config)
    seeds = list(config.study.seeds)
    path = os.path.join(workdir, STUDY_JSON)
    chosen = selected(config, settings)
    jobs = [(setting, seed) for setting in chosen for seed in seeds
            if not _finished(workdir, setting, seed)]
    total = len(chosen) * len(seeds)
    meter = progress.Progress("study (setting, seed) runs", total, done=total - len(jobs),
                              every_seconds=0)

    def write():
        study = collect(workdir, settings)
        metrics_lib.write_json(path, study)
        if study["settings"]:
            report_lib.write_report(workdir, study)
        return study

    pool = futures.ProcessPoolExecutor(config.study.parallel_runs,
                                       mp_context=multiprocessing.get_context("spawn"),
                                       max_tasks_per_child=1)
    try:
        running = {pool.submit(_run_in_child, config, setting, seed,
                               _run_directory(workdir, setting, seed))
                   for setting, seed in jobs}
        while running:
            done, running = futures.wait(running, timeout=60, return_when=futures.FIRST_COMPLETED)
            for future in done:
                future.result()   # a failed run stops the study with its error
                meter.update(total - sum(not _finished(workdir, s, k) for s, k in jobs))
            write()
    finally:
        pool.shutdown(cancel_futures=True)   # after an error: no new run starts
    study = write()
    print(f"study done: {path}, report in {os.path.join(workdir, 'report.md')}")
    return study
