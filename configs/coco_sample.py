"""The real COCO val2017 sample shipped in `samples/` (40 photos, 200 captions): a real-data smoke run.

For more photos, point `data.coco.annotations` and `data.coco.image_dir` at a larger COCO folder."""

import os

from caption_aug import config_schema

SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                          "coco2017-val-sample")


def get_config():
    config = config_schema.base_config()
    config.data.source = "coco"
    config.data.coco.annotations = os.path.join(SAMPLE_DIR, "captions_val2017_sample.json")
    config.data.coco.image_dir = os.path.join(SAMPLE_DIR, "images")
    config.data.validation_fraction = 0.15
    config.data.test_fraction = 0.15
    config.pipeline.captioner_image_size = 224
    config_schema.scene_free_captioner(config.captioner)  # no scene metadata in COCO
    return config
