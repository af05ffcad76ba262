"""Captions without images, from a COCO captions JSON: what the caption LM trains on under
`lm.text_only_source`. Unlike the image readers, it normalises and checks the captions itself,
because no validation step follows (no image is ever read)."""

import collections

from caption_aug.data import example as example_lib
from caption_aug.data.readers import common
from caption_aug.text import normalize


def read_text_only_captions(path: str, max_words: int, skips: example_lib.SkipCounter) -> list:
    """Examples (image id, normalised captions, no image) from a COCO captions JSON."""
    annotations = common.json_list(common.load_json(path), "annotations", path)
    entries = [ann for ann in annotations if isinstance(ann, dict)]
    for _ in range(len(annotations) - len(entries)):
        skips.skip(common.MALFORMED_ENTRY)
    entries = common.first_of_each_id(entries, skips)
    by_image = collections.defaultdict(list)
    for ann in entries:
        caption, image_id = ann.get("caption"), ann.get("image_id")
        if not isinstance(caption, str) or not isinstance(image_id, int):
            skips.skip(common.MALFORMED_ENTRY, f"annotation {ann.get('id')}")
            continue
        problem = normalize.caption_problem(caption, max_words)
        if problem:
            skips.skip(problem, f"annotation {ann.get('id')}: {caption[:60]!r}")
            continue
        by_image[image_id].append(normalize.normalize_caption(caption))
    return [example_lib.Example(image_id, "", tuple(caps)) for image_id, caps in by_image.items()]
