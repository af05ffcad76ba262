"""Shared test fixtures: the real COCO sample shipped in `samples/` (read-only), and
one whole `--mode=all` run of `configs/all_tiny.py` that the end-to-end tests start from; and the
suite's order (the longest files first)."""

import json
import os
import subprocess
import sys

import filelock
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_SAMPLE_DIR = os.path.join(REPO_ROOT, "samples", "coco2017-val-sample")
# The longest test files first (CI and clean-clone durations, 2026-12-07), so that under
# `-n 3 --dist loadfile --no-loadscope-reorder` no worker ends on a long file while the others
# idle (pytest-xdist's own order, most tests first, ran them last: 32 minutes at stop 38). The
# first builds the shared `all_run`; the next three need none, so no worker waits on its lock at
# the start (test_gan_follows_colour.py has one test: pytest-xdist queues the fourth behind it).
LONGEST_FIRST = ("tests/training/test_joint.py", "tests/training/test_multi_worker.py",
                 "tests/training/test_gan_follows_colour.py",
                 "tests/training/test_hypergradient_check.py",
                 "tests/training/test_distribute.py", "tests/training/test_resume.py",
                 "tests/training/test_distribute_runs.py", "tests/training/test_nonfinite.py",
                 "tests/training/test_gan_trainer.py", "tests/training/test_encoder_trainer.py",
                 "tests/training/test_encoder_pretraining.py",
                 "tests/training/test_captioner_trainer.py",
                 "tests/training/test_captioner_modes.py")


def pytest_collection_modifyitems(items):
    """Moves the LONGEST_FIRST files' tests to the front in that order, the rest in their own."""
    def rank(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


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


# `train_main.py` flags: the mirrored strategy over 2 logical CPU devices.
MIRRORED = ["--config.distribute.strategy=mirrored", "--config.distribute.logical_cpu_devices=2"]


def train_main(workdir, *flags, config="configs/all_tiny.py", timeout=1500):
    """`python train_main.py` in a subprocess; its CompletedProcess."""
    return subprocess.run([sys.executable, "train_main.py", f"--workdir={workdir}",
                           f"--config={config}", *flags], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def all_run(tmp_path_factory, worker_id):
    """(workdir, stdout) of one whole default-mode run of configs/all_tiny.py (a few minutes);
    tests copy the workdir before changing anything. Under pytest-xdist the workers share one
    run (the first to ask makes it, under a file lock), not one each."""
    root = tmp_path_factory.getbasetemp()
    root = root if worker_id == "master" else root.parent
    workdir, stdout = root / "all_run", root / "all_run.stdout"
    with filelock.FileLock(str(root / "all_run.lock")):
        if not stdout.exists():
            result = train_main(workdir)  # --mode=all is the default
            assert result.returncode == 0, result.stderr[-4000:]
            stdout.write_text(result.stdout)
    return workdir, stdout.read_text()
