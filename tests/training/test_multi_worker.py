"""`distribute.strategy="multi_worker"`: two worker processes on localhost (TF_CONFIG, free
127.0.0.1 ports) run configs/all_tiny.py's `--mode=all` with the encoders' pretraining, end with
the same weights, and a rerun of the joint phase resumes every worker from the chief's checkpoint;
what multi_worker refuses."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from caption_aug import config_schema
from tests.conftest import REPO_ROOT
from tests.conftest import train_main

MULTI_WORKER = "--config.distribute.strategy=multi_worker"
# The sentence encoder's image side and the captioner's encoder pretrained first (the classifier
# steps of caption_shapes' defaults), a few steps each.
PRETRAINING = ["--config.encoder.image_pretrain_steps=4", "--config.captioner.pretrain_steps=4",
               "--config.captioner.pretrain_object_steps=2"]


def _free_ports(count: int) -> list:
    """Ports free on 127.0.0.1 now (bound at once, so they differ, then let go)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_workers(workdir, *flags, workers: int = 2, timeout: int = 2400) -> list:
    """`train_main.py` as `workers` processes of one multi-worker cluster; their stderr texts
    (the test fails with a worker's last lines when one exits non-zero). Each logs to a file: a
    worker blocked on a full pipe would stall the others' collectives."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(workers)]}
    logs = [workdir.parent / f"{workdir.name}.worker{index}.log" for index in range(workers)]
    processes = []
    for index, log in enumerate(logs):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        with open(log, "w") as stderr:
            processes.append(subprocess.Popen(
                [sys.executable, "train_main.py", f"--workdir={workdir}",
                 "--config=configs/all_tiny.py", MULTI_WORKER, *flags],
                cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr))
    try:
        for p in processes:
            p.wait(timeout=timeout)
    finally:
        for p in processes:
            p.kill()
    stderrs = [log.read_text() for log in logs]
    for index, (p, stderr) in enumerate(zip(processes, stderrs)):
        assert p.returncode == 0, f"worker {index}:\n{stderr[-3000:]}"
    return stderrs


def _checkpoint_values(directory) -> dict:
    """Every variable of the latest checkpoint in `directory`, by its checkpoint key."""
    reader = tf.train.load_checkpoint(str(directory))
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def _assert_same_checkpoints(chief_dir, worker_dir):
    chief, worker = _checkpoint_values(chief_dir), _checkpoint_values(worker_dir)
    assert chief.keys() == worker.keys()
    different = [key for key in chief if not np.array_equal(chief[key], worker[key])]
    assert not different, f"{len(different)} of {len(chief)} variables differ: {different[:5]}"


@pytest.mark.slow
def test_two_workers_run_all_alike_and_resume_from_the_chief(tmp_path):
    workdir = tmp_path / "run"
    worker_dir = workdir / "workers" / "1"
    first = _run_workers(workdir, "--config.joint.iterations=2", *PRETRAINING)
    assert "distribute: multi_worker, 2 replicas, this task worker 0 (the chief)" in first[0]
    assert "distribute: multi_worker, 2 replicas, this task worker 1\n" in first[1]
    for stderr in first:
        assert "pretrained image side on validation images" in stderr
        assert "pretrained captioner encoder on validation images" in stderr
    metrics = json.loads((workdir / "joint" / "metrics.json").read_text())
    assert metrics["iterations"] == 2 and not any(metrics["skipped_steps"].values()), metrics
    assert (workdir / "export").is_dir()
    for stage in ("lm", "encoder", "gan", "captioner", "joint"):  # the worker's own, equal ones
        _assert_same_checkpoints(workdir / stage / "checkpoints",
                                 worker_dir / stage / "checkpoints")

    # The worker's own joint checkpoints gone: it resumes from the chief's all the same.
    for path in (worker_dir / "joint" / "checkpoints").iterdir():
        path.unlink()
    again = _run_workers(workdir, "--mode=joint", "--config.joint.iterations=3")
    chief_checkpoint = workdir / "joint" / "checkpoints" / "ckpt-2"
    for stderr in again:
        assert f"resumed from {chief_checkpoint}" in stderr
        assert "joint iteration 2/3: " not in stderr and "joint iteration 3/3: " in stderr
    _assert_same_checkpoints(workdir / "joint" / "checkpoints",
                             worker_dir / "joint" / "checkpoints")


def test_multi_worker_without_tf_config_fails_in_one_line(tmp_path):
    env_before = os.environ.pop("TF_CONFIG", None)
    try:
        result = train_main(tmp_path, "--mode=dry_run", MULTI_WORKER)
    finally:
        if env_before is not None:
            os.environ["TF_CONFIG"] = env_before
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        'error: distribute.strategy="multi_worker" needs TF_CONFIG naming the cluster')


def test_config_refuses_logical_cpus_under_multi_worker():
    config = config_schema.base_config()
    config.distribute.strategy = "multi_worker"
    config_schema.validate(config)   # the defaults, pretraining included
    config.distribute.logical_cpu_devices = 2
    with pytest.raises(ValueError, match="distribute.logical_cpu_devices"):
        config_schema.validate(config)
