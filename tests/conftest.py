"""Shared test fixtures: the real COCO sample shipped in `samples/` (read-only), and
one whole `--mode=all` run of `configs/all_tiny.py` that the end-to-end tests start from."""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_SAMPLE_DIR = os.path.join(REPO_ROOT, "samples", "coco2017-val-sample")


@pytest.fixture(scope="session")
def coco_sample_dir():
    if not os.path.isdir(COCO_SAMPLE_DIR):
        pytest.fail(f"the real COCO sample is missing: {COCO_SAMPLE_DIR}")
    return COCO_SAMPLE_DIR


@pytest.fixture(scope="session")
def coco_val_captions(coco_sample_dir):
    """All 25,014 real val2017 captions, as text."""
    with open(os.path.join(coco_sample_dir, "captions_val2017.json")) as f:
        return [a["caption"] for a in json.load(f)["annotations"]]


def train_main(workdir, *flags, config="configs/all_tiny.py", timeout=1500):
    """`python train_main.py` in a subprocess; its CompletedProcess."""
    return subprocess.run([sys.executable, "train_main.py", f"--workdir={workdir}",
                           f"--config={config}", *flags], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def all_run(tmp_path_factory):
    """(workdir, stdout) of one whole default-mode run of configs/all_tiny.py (a few minutes);
    tests copy the workdir before changing anything."""
    workdir = tmp_path_factory.mktemp("all") / "run"
    result = train_main(workdir)  # --mode=all is the default
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result.stdout
