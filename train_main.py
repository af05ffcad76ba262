"""caption_aug entry point: wires flags, config and workdir to one mode; the work lives in the package.

  python train_main.py --workdir=runs/shapes                       # the whole embedded default run
  python train_main.py --config=configs/coco_sample.py --workdir=runs/coco --mode=data
  python train_main.py --workdir=runs/shapes --config.tokenizer.vocab_size=2000
"""

import importlib
import json
import logging as std_logging
import os
import re
import sys
import traceback

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "shapes.py")
# Each mode is a module with `run_mode(config, workdir)`; imported on use (TensorFlow is slow to import).
MODES = {
    "data": "caption_aug.data.prepare",
    # --- captioner (stage 3) ---
    "train_captioner": "caption_aug.training.captioner_trainer",
    "eval": "caption_aug.evaluation.captioner_eval",
    "export": "caption_aug.export.captioner_export",
    # --- end captioner ---
    "train_lm": "caption_aug.training.lm_trainer",
    "train_encoder": "caption_aug.training.encoder_trainer",
    "train_gan": "caption_aug.training.gan_trainer",  # stage 2 (Stage2GAN)
    # --- stage 4 and the whole schedule ---
    "all": "caption_aug.training.run_all",
    "joint": "caption_aug.training.joint.trainer",
    "synthesize": "caption_aug.training.joint.synthesize",
    "dry_run": "caption_aug.training.checks.dry_run",
    "check_hypergradient": "caption_aug.training.checks.hypergradient_check",
    # --- end stage 4 ---
    "study": "caption_aug.study.runner",
}


def _one_line(error: Exception) -> str:
    """The innermost message of a (possibly wrapped) exception, on one line."""
    while error.args and isinstance(error.args[0], BaseException):
        error = error.args[0]
    text = error.args[0] if isinstance(error, KeyError) and error.args else error
    text = re.sub(r' Other fields present: ".*}"', "", str(text), flags=re.S)  # a locked ConfigDict's
    head, _, trace = text.partition("Error whilst parsing config file:")  # ml_collections': a
    text = head + trace.strip().splitlines()[-1] if trace.strip() else text  # traceback's last line
    return " ".join(text.split())


def _wants_traceback(argv) -> bool:
    """--verbosity=1 (absl's -v) or more: start-up errors raise with their traceback."""
    for k, arg in enumerate(argv):
        name, _, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in ("v", "verbosity"):
            value = value or (argv[k + 1] if k + 1 < len(argv) else "")
            return value.lstrip("-").isdigit() and int(value) >= 1
    return False


def _config_file_argument(argv) -> str:
    """The config file that the flags name (without its `:argument`), as ml_collections finds it."""
    for k, arg in enumerate(argv):
        if arg in ("-config", "--config") and k + 1 < len(argv):
            return argv[k + 1].split(":", 1)[0]
        if arg.startswith(("-config=", "--config=")):
            return arg.split("=", 1)[1].split(":", 1)[0]
    return _DEFAULT_CONFIG


def _config_file_problem(error: BaseException, path: str):
    """'config file PATH, line N: Type: message' when `error` came from importing or running the
    config file (a syntax error, an exception in get_config), else None."""
    chain, here = [], os.path.abspath(path)
    while error is not None and error not in chain:  # absl and ml_collections re-raise copies:
        chain.append(error)                            # the innermost that ran the file has its line
        error = error.__cause__ or error.__context__
    for error in reversed(chain):
        if isinstance(error, SyntaxError) and os.path.abspath(error.filename or "") == here:
            return f"config file {path}, line {error.lineno}: SyntaxError: {error.msg}"
        lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
                 if os.path.abspath(frame.filename) == here]
        if lines:
            return f"config file {path}, line {lines[-1]}: {type(error).__name__}: {_one_line(error)}"
    return None


def _exit_on_start_up_error(parse, argv):
    """Runs `parse` (flag parsing, which imports the config file and applies --config.KEY=VALUE);
    whatever fails there exits with one line naming the file or the flag, unless --verbosity>=1."""
    try:
        return parse()
    except Exception as e:  # noqa: BLE001 -- a config file can raise anything
        if _wants_traceback(argv):
            raise
        problem = _config_file_problem(e, _config_file_argument(argv))
        if problem is None and isinstance(e, (AttributeError, KeyError)):  # config_path's lookup
            problem = f"unknown config key: {_one_line(e)}"
        sys.exit(f"error: {problem or _one_line(e)}")


_exit_on_start_up_error(  # ml_collections applies --config.KEY=VALUE overrides while defining the flag
    lambda: config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG,
                                            "Experiment config file (ml_collections)."), sys.argv)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for everything the run makes; rerunning "
                               "with the same workdir resumes.", required=True)
_MODE = flags.DEFINE_enum("mode", "all", list(MODES), "What to run. all (default): the whole "
                          "schedule (data, warm-up of encoder, LM, GAN and captioner, the joint "
                          "phase, test evaluation before and after it, export, metrics.json and "
                          "report.md); rerunning resumes. joint: only the joint phase (stage 4) "
                          "over stages already trained in the workdir. data: build the dataset and "
                          "the shared tokenizer into the workdir and print a summary. "
                          "train_lm: train the weighted GPT-2 caption LM (stage 1), evaluate it "
                          "and write example captions. "
                          "train_captioner: train the Show-Attend-Tell captioner (resumes). "
                          "eval: captioner test BLEU-1..4 at beams 1/3/5, results files, attention "
                          "figure. export: captioner SavedModel in WORKDIR/export. "
                          "train_encoder: train the sentence encoder "
                          "(joint image/text embedding) and report retrieval recall. "
                          "train_gan: train the Stage2GAN (DARTS supernet discriminator, B fixed; "
                          "resumes), write derive() and its conditional attribute accuracy. "
                          "synthesize: write synthetic image/caption pairs (PNG + COCO JSON) to "
                          "WORKDIR/synthetic. check_hypergradient: finite-difference vs exact "
                          "hypergradients on the config's models with random weights (one JSON "
                          "line). dry_run: every model of the config with random weights, joint "
                          "iterations on random tensors (no data, no pretrained weights). study: every arm, setting "
                          "and seed of config.study (configs/shapes_study.py), then WORKDIR/"
                          "study.json and WORKDIR/report.md; rerunning resumes.")


def load_config():
    """The config with command-line overrides applied; a bad file or key exits with one line."""
    path = config_flags.get_config_filename(flags.FLAGS["config"]).split(":", 1)[0]  # FILE:ARG
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        return flags.FLAGS.config
    except (AttributeError, KeyError, TypeError, OSError, flags.Error) as e:
        raise ValueError(f"bad config ({path}): {_one_line(e)}") from e


class _QuietLibraries(std_logging.Filter):
    """Keeps tensorflow-datasets' per-split INFO lines out of the progress output."""

    def filter(self, record):
        return record.levelno >= std_logging.WARNING or "tensorflow_datasets" not in record.pathname


def _set_environment(mode: str, config) -> None:
    """Before TensorFlow loads: oneDNN off where nested tapes take second derivatives (the check,
    exact hypergradients), which its CPU kernels fail on (checks/hypergradient_check.py)."""
    if mode == "check_hypergradient" or config.joint.hypergradient == "exact":
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        logging.info("TF_ENABLE_ONEDNN_OPTS=%s: nested tapes take second derivatives here",
                     os.environ["TF_ENABLE_ONEDNN_OPTS"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.get_absl_handler().addFilter(_QuietLibraries())
    from caption_aug import config_schema
    workdir = _WORKDIR.value
    try:
        config = load_config()
        config_schema.validate(config, check_data_paths=_MODE.value != "dry_run")
        _set_environment(_MODE.value, config)
        from caption_aug import distribute  # imports TensorFlow: after the start-up checks
        from caption_aug import precision
        from caption_aug.workdir import checkpoints
        if (config.distribute.strategy != "default"
                and _MODE.value not in distribute.DISTRIBUTED_MODES):
            raise ValueError(f"distribute.strategy={config.distribute.strategy!r} runs only "
                             f"--mode={' / '.join(distribute.DISTRIBUTED_MODES)}; "
                             f"--mode={_MODE.value} needs the default strategy")
        strategy = distribute.build_strategy(config.distribute)
        workdir = distribute.worker_workdir(workdir, strategy)
        if workdir != _WORKDIR.value:
            checkpoints.restore_from(_WORKDIR.value, workdir)
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json(indent=2))
        logging.info("mode=%s workdir=%s", _MODE.value, workdir)
        precision.set_policy(config.mixed_precision)
        with strategy.scope():
            importlib.import_module(MODES[_MODE.value]).run_mode(config, workdir)
            distribute.barrier()  # multi-worker: all end together (none sees another as crashed)
    except (FileNotFoundError, NotADirectoryError, ValueError, json.JSONDecodeError) as e:
        if flags.FLAGS.verbosity >= 1:
            raise
        sys.exit(f"error: {e}")


def parse_flags(argv):
    """absl's flag parsing; a bad flag, config file or config key exits with one line naming it."""
    return _exit_on_start_up_error(lambda: flags.FLAGS(argv), argv)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
