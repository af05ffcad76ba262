"""Shared test fixtures: the real COCO sample that sits beside the repository (read-only)."""

import json
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_SAMPLE_DIR = os.path.join(REPO_ROOT, "..", "shared", "data", "coco2017-val-sample")


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
