"""Step-exact resume: a `--mode=all` run killed with SIGKILL once in every stage (encoder, LM, GAN,
captioner, joint, control arm), each time at a random moment after that stage's first checkpoint, and rerun to
the end, equals the uninterrupted `all_run` bit for bit: every variable of every stage's final
checkpoint and every phase's metrics (timings aside)."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

# Stage -> its checkpoint folder, in schedule order.
_CHECKPOINTS = {"encoder": "encoder/checkpoints", "lm": "lm/checkpoints",
                "gan": "gan/checkpoints", "captioner": "captioner/checkpoints",
                "joint": "joint/checkpoints", "control": "captioner_control/checkpoints"}
_COMPARED = [*_CHECKPOINTS.values(), "captioner/best"]


def _kill_after_first_checkpoint(workdir, folder: str, rng: random.Random) -> str:
    """Starts `--mode=all`; once `folder` holds a checkpoint, kills it at a random moment within
    the next second. Returns how it ended ("killed" or "finished")."""
    process = subprocess.Popen(
        [sys.executable, "train_main.py", f"--workdir={workdir}", "--config=configs/all_tiny.py"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = os.path.join(workdir, folder, "checkpoint")
    deadline = time.time() + 900
    while process.poll() is None and not os.path.exists(index) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.0))
    if process.poll() is not None:
        return "finished"
    process.send_signal(signal.SIGKILL)
    process.wait()
    return "killed"


def _checkpoint_values(workdir, folder: str) -> dict:
    """Every saved tensor by key, without the object-graph proto: it records Keras' per-process
    layer names (`seed_generator_3` in one process is `seed_generator` in a fresh one)."""
    reader = tf.train.load_checkpoint(os.path.join(workdir, folder))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def _without_timings(value):
    """A metrics structure with every timing (seconds, per-second rates) left out."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if "second" not in k and k != "path"}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_sigkill_in_every_stage_then_rerun_equals_the_uninterrupted_run(all_run, tmp_path):
    reference = all_run[0]
    workdir = tmp_path / "killed"
    seed = int(time.time())
    rng = random.Random(seed)
    endings = {stage: _kill_after_first_checkpoint(workdir, folder, rng)
               for stage, folder in _CHECKPOINTS.items()}
    endings["random_seed"] = seed  # in every failure message, to replay the kill times
    result = subprocess.run(
        [sys.executable, "train_main.py", f"--workdir={workdir}", "--config=configs/all_tiny.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    assert list(endings.values()).count("killed") >= 5, endings

    for folder in _COMPARED:
        expected, resumed = _checkpoint_values(reference, folder), _checkpoint_values(workdir, folder)
        assert sorted(resumed) == sorted(expected), folder
        differing = [name for name in expected
                     if not np.array_equal(expected[name], resumed[name])]
        assert not differing, (folder, endings, differing[:5])
    expected = json.loads((reference / "metrics.json").read_text())["phases"]
    resumed = json.loads((workdir / "metrics.json").read_text())["phases"]
    assert _without_timings(resumed) == _without_timings(expected), endings
