"""Readers of real captioning data: each turns one annotation format into a list of Examples.

Readers only parse annotations. They pass captions through raw and image paths through unchecked;
the validation step decodes images and drops bad items. Lines or entries a reader cannot parse are
counted in the optional `skips` counter every reader accepts, never silently dropped.
"""

from caption_aug.data.readers.coco import read_coco_captions
from caption_aug.data.readers.flickr8k import read_flickr8k
from caption_aug.data.readers.karpathy import read_karpathy
from caption_aug.data.readers.tfds_coco import read_tfds_coco_captions

__all__ = ["read_coco_captions", "read_flickr8k", "read_karpathy", "read_tfds_coco_captions"]
