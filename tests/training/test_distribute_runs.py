"""`--mode=train_captioner`, `train_lm`, `train_encoder`, `train_gan` and `joint` run mirrored over
2 logical CPU devices and resume (each in a fresh process: the CPU is split before TensorFlow
starts). That the mirrored steps equal one device: test_distribute.py."""

import json
import shutil

import pytest

from tests.conftest import MIRRORED
from tests.conftest import train_main


@pytest.mark.slow
def test_train_captioner_runs_mirrored_in_bfloat16_and_resumes(tmp_path):
    flags = ["--mode=train_captioner", *MIRRORED, "--config.mixed_precision=mixed_bfloat16",
             "--config.captioner.steps_per_epoch=8", "--config.captioner.epochs=1"]
    first = train_main(tmp_path, *flags, config="configs/captioner_tiny.py")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "distribute: mirrored over 2 devices" in first.stderr
    again = train_main(tmp_path, *flags[:-1], "--config.captioner.epochs=2",
                       config="configs/captioner_tiny.py")
    assert again.returncode == 0, again.stderr[-3000:]
    history = json.loads((tmp_path / "captioner" / "training.json").read_text())
    epochs = history["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and epochs[1]["step"] == 2 * epochs[0]["step"]
    for entry in epochs:
        assert all(0 < entry[part]["loss"] < 100 for part in ("train", "validation")), entry


def _train_mirrored_then_resume(tmp_path, stage: str) -> dict:
    """`--mode=train_<stage>` mirrored for one epoch, then rerun for two: the rerun resumes after
    the first. Returns the stage's metrics.json."""
    for epochs in (1, 2):
        result = train_main(tmp_path, f"--mode=train_{stage}", *MIRRORED,
                            f"--config.{stage}.epochs={epochs}")
        assert result.returncode == 0, result.stderr[-3000:]
    assert f"{stage} epoch 1 done" not in result.stderr
    assert f"{stage} epoch 2 done" in result.stderr
    metrics = json.loads((tmp_path / stage / "metrics.json").read_text())
    assert metrics["epochs"] == 2, metrics
    return metrics


@pytest.mark.slow
def test_train_lm_runs_mirrored_and_resumes(tmp_path):
    metrics = _train_mirrored_then_resume(tmp_path, "lm")
    assert 1 < metrics["validation_perplexity"] < 1000, metrics
    assert (tmp_path / "lm" / "preset").is_dir()


@pytest.mark.slow
def test_train_encoder_runs_mirrored_and_resumes(tmp_path):
    metrics = _train_mirrored_then_resume(tmp_path, "encoder")
    assert metrics["skipped_steps"] == 0 and 0 <= metrics["image_to_text_r1"] <= 1, metrics


@pytest.mark.slow
def test_train_gan_runs_mirrored_and_resumes(tmp_path):
    """The trainable caption embedding (no encoder to train first); the step test above covers
    the encoder's matching loss."""
    flags = ["--mode=train_gan", *MIRRORED, "--config.gan.conditioning=trainable",
             "--config.gan.matching_weight=0"]
    for iterations in (2, 4):
        result = train_main(tmp_path, *flags, f"--config.gan.iterations={iterations}")
        assert result.returncode == 0, result.stderr[-3000:]
    assert "GAN iteration 2/4" not in result.stderr and "GAN iteration 4/4" in result.stderr
    metrics = json.loads((tmp_path / "gan" / "metrics.json").read_text())
    accuracy = metrics["conditional_accuracy"]
    assert accuracy["iterations"] == 4 and metrics["skipped_steps"] == 0, metrics
    assert 0 <= accuracy["objects"]["accuracy"] <= 1, accuracy


@pytest.mark.slow
def test_joint_phase_runs_mirrored_from_the_warm_ups_and_resumes(all_run, tmp_path):
    """The joint phase mirrored from the one-device warm-ups of the shared `--mode=all` run: two
    iterations with finite figures; a rerun restores the checkpoint the mirrored run wrote and has
    nothing left to do."""
    workdir = tmp_path / "run"
    shutil.copytree(all_run[0], workdir)
    shutil.rmtree(workdir / "joint")
    flags = ["--mode=joint", *MIRRORED, "--config.joint.iterations=2"]
    first = train_main(workdir, *flags)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "distribute: mirrored over 2 devices" in first.stderr
    assert "joint iteration 2/2: " in first.stderr
    metrics = json.loads((workdir / "joint" / "metrics.json").read_text())
    assert metrics["iterations"] == 2 and not any(metrics["skipped_steps"].values()), metrics
    assert 0 < metrics["caption_weights"]["min"] <= metrics["caption_weights"]["max"] < 1
    again = train_main(workdir, *flags)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "joint iteration 1/2: " not in again.stderr
    assert "joint iteration 2/2: " not in again.stderr
    assert json.loads((workdir / "joint" / "metrics.json").read_text())["iterations"] == 2
