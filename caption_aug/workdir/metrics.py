"""JSON files of a workdir, written whole or not at all (a kill mid-write leaves the old file)."""

import json
import os

from caption_aug.workdir import layout

METRICS_JSON = "metrics.json"


def read_json(path: str, default: dict) -> dict:
    """The JSON at `path`, or `default` when there is no file."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return default


def write_json(path: str, value: dict) -> str:
    """Writes `value` to `path` through a temporary file; returns `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2, default=str)
    os.replace(path + ".tmp", path)
    return path


def metrics_path(workdir: str, stage: str) -> str:
    return os.path.join(layout.stage_dir(workdir, stage), METRICS_JSON)


def write_metrics(workdir: str, stage: str, metrics: dict) -> str:
    """WORKDIR/<stage>/metrics.json; its path."""
    return write_json(metrics_path(workdir, stage), metrics)
