"""Karpathy split JSON (dataset_coco.json, dataset_flickr8k.json, dataset_flickr30k.json)."""

import os
from typing import Optional

from caption_aug.data.example import Example, SkipCounter
from caption_aug.data.readers import common

SPLITS = ("train", "val", "test")
# The usual convention (Karpathy's neuraltalk2, sgrvinod's create_input_files): restval trains.
_LABELS_OF_SPLIT = {"train": {"train", "restval"}, "val": {"val"}, "test": {"test"}}
_KNOWN_LABELS = {"train", "restval", "val", "test"}


def read_karpathy(json_path: str, image_dir: str, split: str,
                  skips: Optional[SkipCounter] = None) -> list:
    """The Examples of one split, in file order; "train" also takes the "restval" images.

    image is image_dir/filepath/filename when the entry has a filepath (COCO: train2014/val2014),
    else image_dir/filename; image_id is the cocoid when present, else the imgid; captions are the
    sentences' `raw` text. Entries missing those fields count as "malformed_annotation_entry" and
    entries with a split label outside train/restval/val/test as "unknown_split_label".
    """
    common.check_split(split, SPLITS, "a Karpathy split JSON (restval joins train)")
    common.require_dir(image_dir)
    entries = common.json_list(common.load_json(json_path), "images", json_path)
    with common.reporting_skips(json_path, skips) as skips:
        examples = []
        for index, entry in enumerate(entries):
            label = entry.get("split") if isinstance(entry, dict) else None
            if label not in _KNOWN_LABELS:
                skips.skip("unknown_split_label", f"images[{index}] split={label!r}")
            elif label in _LABELS_OF_SPLIT[split]:
                example = _example(entry, image_dir, skips, f"images[{index}]")
                if example is not None:
                    examples.append(example)
    return examples


def _example(entry: dict, image_dir: str, skips: SkipCounter, where: str) -> Optional[Example]:
    """The Example of one image entry; None (counted) when its name, id or sentences are missing."""
    image_id = entry.get("cocoid", entry.get("imgid"))
    filename, sentences = entry.get("filename"), entry.get("sentences")
    if not (isinstance(image_id, int) and isinstance(filename, str)
            and isinstance(sentences, list)):
        skips.skip(common.MALFORMED_ENTRY, where)
        return None
    path = os.path.join(image_dir, entry.get("filepath") or "", filename)
    return Example(image_id=image_id, image=path,
                   captions=common.raw_captions(sentences, "raw", skips, where))
