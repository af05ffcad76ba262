"""The tfds `coco_captions` builder (COCO 2014 in Karpathy splits), images kept encoded."""

from typing import Optional

import tensorflow_datasets as tfds

from caption_aug.data.example import Example, SkipCounter
from caption_aug.data.readers import common

SPLITS = ("train", "val", "test", "restval")


def read_tfds_coco_captions(split: str, data_dir: Optional[str] = None,
                            skips: Optional[SkipCounter] = None) -> list:
    """The Examples of a prepared tfds split; image is the encoded JPEG bytes, never decoded here.

    `split` is a tfds split string over train/val/test/restval, slices and "+" included
    ("train+restval" is the usual Karpathy training set; "train" alone is not). Nothing is
    downloaded: an unprepared dataset raises tfds' "could not find data in <data_dir>" error.
    `skips` is accepted so every reader has one interface; tfds has parsed its records already.
    """
    del skips
    for part in split.split("+"):
        common.check_split(part.split("[")[0].strip(), SPLITS, "tfds coco_captions")
    dataset = tfds.load("coco_captions", split=split, data_dir=data_dir, download=False,
                        decoders={"image": tfds.decode.SkipDecoding()})
    return [Example(image_id=int(record["image/id"]), image=bytes(record["image"]),
                    captions=tuple(text.decode("utf-8", errors="surrogateescape")
                                   for text in record["captions"]["text"]))
            for record in tfds.as_numpy(dataset)]
