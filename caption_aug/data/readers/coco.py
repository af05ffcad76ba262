"""MS-COCO captions JSON (captions_*.json) plus its image folder, indexed by pycocotools."""

import contextlib
import io
import os
from typing import Optional

from pycocotools.coco import COCO

from caption_aug.data.example import Example, SkipCounter
from caption_aug.data.readers import common


def read_coco_captions(annotations_path: str, image_dir: str,
                       skips: Optional[SkipCounter] = None) -> list:
    """One Example per image of the JSON, in file order, with its captions in annotation-id order.

    image_id is the COCO id and image is `image_dir/file_name`. An image without captions is kept
    (validation counts it); a caption whose image is not listed counts as "caption_without_image",
    and one whose annotation id an earlier annotation had as "annotation_duplicate_id".
    """
    common.require_dir(image_dir)
    with common.reporting_skips(annotations_path, skips) as skips:
        coco = _index(annotations_path, skips)
        for image_id in sorted(coco.imgToAnns.keys() - coco.imgs.keys()):
            for ann in coco.imgToAnns[image_id]:
                skips.skip("caption_without_image", f"annotation {ann['id']} -> image {image_id}")
        examples = []
        for image_id, image in coco.imgs.items():
            if not isinstance(image.get("file_name"), str):
                skips.skip(common.MALFORMED_ENTRY, f"image {image_id} has no file_name")
                continue
            anns = sorted(coco.imgToAnns[image_id], key=lambda ann: ann["id"])
            captions = common.raw_captions(anns, "caption", skips, f"image {image_id}")
            examples.append(Example(image_id=image_id,
                                    image=os.path.join(image_dir, image["file_name"]),
                                    captions=captions))
    return examples


def _index(annotations_path: str, skips: SkipCounter) -> COCO:
    """A pycocotools index over the JSON, read via `read_text` so bad caption bytes survive; of
    annotations sharing an id only the first is indexed (the others are counted)."""
    dataset = common.load_json(annotations_path)
    common.json_list(dataset, "images", annotations_path)
    if isinstance(dataset.get("annotations"), list):
        dataset["annotations"] = common.first_of_each_id(dataset["annotations"], skips)
    coco = COCO()
    coco.dataset = dataset
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
            coco.createIndex()
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed COCO entry in {annotations_path} ({err!r})") from None
    return coco
