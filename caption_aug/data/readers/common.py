"""Checks and parsing steps the readers share: folders, JSON, split names, skip reporting."""

import collections
import contextlib
import json
import os
from typing import Iterable, Iterator, Optional

from absl import logging

from caption_aug.data.example import SkipCounter
from caption_aug.text.text_io import read_text

MALFORMED_ENTRY = "malformed_annotation_entry"
MALFORMED_LINE = "malformed_annotation_line"
DUPLICATE_ID = "annotation_duplicate_id"


def require_dir(path: str) -> None:
    """Fails at call time, in one line naming the path, when the image folder is missing."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"image folder not found: {path}")


def check_split(split: str, valid: Iterable[str], source: str) -> None:
    """Raises a one-line ValueError naming an unknown split and listing the valid ones."""
    valid = tuple(valid)
    if split not in valid:
        raise ValueError(f"unknown split {split!r} for {source}; valid splits: {', '.join(valid)}")


def read_lines(path: str) -> list:
    """The file's lines, split on newlines only: captions may hold other Unicode line breaks."""
    text = read_text(path).removeprefix("\ufeff")
    return [line.removesuffix("\r") for line in text.split("\n")]


def load_json(path: str):
    """Parses a JSON file read by `read_text`, so bad bytes in one string survive as surrogates."""
    try:
        return json.loads(read_text(path).removeprefix("\ufeff"))
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {path} ({err})") from None


def json_list(data, key: str, path: str) -> list:
    """`data[key]` when it is a list; otherwise a one-line ValueError: not the expected format."""
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"no {key!r} list at the top of {path}: not the expected format")
    return data[key]


def raw_captions(entries: Iterable, key: str, skips: SkipCounter, where: str) -> tuple:
    """The `key` text of each entry, raw; entries without a text caption count as malformed."""
    captions = []
    for entry in entries:
        caption = entry.get(key) if isinstance(entry, dict) else None
        if isinstance(caption, str):
            captions.append(caption)
        else:
            skips.skip(MALFORMED_ENTRY, where)
    return tuple(captions)


def first_of_each_id(annotations: list, skips: SkipCounter) -> list:
    """The annotations in order, without any whose `id` an earlier one had (each such repeat is
    counted as "annotation_duplicate_id"); entries without a number or string id pass through."""
    seen, kept = set(), []
    for ann in annotations:
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        if isinstance(ann_id, (int, str)) and not isinstance(ann_id, bool):
            if ann_id in seen:
                caption = ann.get("caption")
                skips.skip(DUPLICATE_ID, f"annotation {ann_id}"
                           + (f": {caption[:60]!r}" if isinstance(caption, str) else ""))
                continue
            seen.add(ann_id)
        kept.append(ann)
    return kept


@contextlib.contextmanager
def reporting_skips(source: str, skips: Optional[SkipCounter]) -> Iterator[SkipCounter]:
    """Yields the counter to count into (a fresh one if None) and logs what this read skipped."""
    counter = SkipCounter() if skips is None else skips
    before = collections.Counter(counter.counts)
    yield counter
    added = counter.counts - before
    if added:
        logging.warning("%s: skipped %s", source, dict(sorted(added.items())))
