"""Flickr8k captions (Flickr8k.token.txt) with a split list (Flickr_8k.trainImages.txt etc.)."""

import os
from typing import Optional

from caption_aug.data.example import Example, SkipCounter
from caption_aug.data.readers import common


def read_flickr8k(token_path: str, image_dir: str, split_list_path: str,
                  skips: Optional[SkipCounter] = None) -> list:
    """The Examples of the images named in the split list, in its order, captions by caption number.

    Token lines read `IMAGE.jpg#N<TAB>caption`. image_id is the image's index among the sorted
    distinct file names of the token file, so ids do not depend on the split list and stay the
    same across splits of one token file. Lines that do not parse count as
    "malformed_annotation_line"; split-list names absent from the token file count as
    "split_entry_without_captions".
    """
    common.require_dir(image_dir)
    names = _split_names(split_list_path)
    with common.reporting_skips(token_path, skips) as skips:
        captions = _captions_by_image(token_path, skips)
        ids = {name: image_id for image_id, name in enumerate(sorted(captions))}
        examples = []
        for name in names:
            if name not in captions:
                skips.skip("split_entry_without_captions", name)
                continue
            ordered = tuple(caption for _, caption in sorted(captions[name], key=lambda c: c[0]))
            examples.append(Example(image_id=ids[name], image=os.path.join(image_dir, name),
                                    captions=ordered))
    return examples


def _captions_by_image(token_path: str, skips: SkipCounter) -> dict:
    """Maps each image name to its (caption number, raw caption) pairs; bad lines are counted."""
    captions = {}
    for number, line in enumerate(common.read_lines(token_path), start=1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name, hash_sign, index = key.strip().rpartition("#")
        if not (tab and hash_sign and name and index.isdecimal()):
            skips.skip(common.MALFORMED_LINE, f"{token_path}:{number}")
            continue
        captions.setdefault(name, []).append((int(index), caption))
    if not captions:
        raise ValueError(f"no IMAGE#N<TAB>caption line in {token_path}: not a Flickr8k token file")
    return captions


def _split_names(split_list_path: str) -> list:
    """The image file names of a split list, one per line, blank lines ignored."""
    return [line.strip() for line in common.read_lines(split_list_path) if line.strip()]
