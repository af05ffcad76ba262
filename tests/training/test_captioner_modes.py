"""The captioner's modes run from train_main.py: train_captioner -> eval -> export, and a bad
captioner setting stops the run at start with one line naming the key."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

_TINY = ["--config=configs/captioner_tiny.py", "--config.captioner.epochs=1",
         "--config.captioner.steps_per_epoch=3", "--config.captioner.eval_beam_sizes=(2,)"]


def _run(workdir, mode, *flags):
    return subprocess.run([sys.executable, "train_main.py", f"--workdir={workdir}", f"--mode={mode}",
                           *_TINY, *flags], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_train_eval_export_from_train_main(tmp_path):
    workdir = tmp_path / "run"
    for mode in ("train_captioner", "eval", "export"):
        result = _run(workdir, mode)
        assert result.returncode == 0, (mode, result.stderr[-3000:])
    history = json.loads((workdir / "captioner" / "training.json").read_text())
    assert [e["step"] for e in history["epochs"]] == [3]
    metrics = json.loads((workdir / "captioner" / "metrics.json").read_text())
    assert list(metrics["beam_sizes"]) == ["2"]
    assert os.path.exists(workdir / "export" / "captioner" / "saved_model.pb")
    assert "caption_aug_caption --model" in result.stdout


@pytest.mark.parametrize("flag, key", [("--config.captioner.backbone=vgg16", "captioner.backbone"),
                                       ("--config.captioner.weights=/no/such.h5",
                                        "captioner.weights"),
                                       ("--config.captioner.decoder=gru", "captioner.decoder")])
def test_bad_captioner_setting_fails_at_start_naming_the_key(tmp_path, flag, key):
    result = _run(tmp_path / "run", "train_captioner", flag)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and key in lines[0], result.stderr[-2000:]


def test_eval_before_training_says_what_to_run(tmp_path):
    result = _run(tmp_path / "run", "eval")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "no trained checkpoint" in lines[0], result.stderr[-2000:]
