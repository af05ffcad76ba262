"""Every knob of a run, with its default, and the start-up check that a config is usable.

Config files under `configs/` start from `base_config()` and change values; the dict is locked,
so a misspelt key fails where it is written (in the file or on the command line), naming it.
"""

import os

import ml_collections

SOURCES = ("caption_shapes", "coco", "karpathy", "flickr8k", "tfds_coco_captions")
NORMALIZATIONS = ("imagenet", "unit", "tanh")


def base_config() -> ml_collections.ConfigDict:
    """The defaults: the embedded caption_shapes dataset at CPU sizes."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.source = "caption_shapes"
    config.data.max_caption_words = 50       # longer captions are skipped and counted
    config.data.max_caption_tokens = 40      # including start and end; longer ones are cut
    config.data.cache_max_mb = 1024          # decoded images are kept in memory below this
    config.data.validation_fraction = 0.1    # for sources without splits (a COCO JSON)
    config.data.test_fraction = 0.1
    config.data.caption_shapes = ml_collections.ConfigDict(dict(
        train_size=4000, validation_size=500, test_size=500, resolution=64, seed=0,
        holdout="",                          # e.g. "red circle,large star": never in train
        novel_fraction=0.5))                 # share of val/test scenes showing a held-out one
    config.data.coco = ml_collections.ConfigDict(dict(annotations="", image_dir=""))
    config.data.karpathy = ml_collections.ConfigDict(dict(json="", image_dir=""))
    config.data.flickr8k = ml_collections.ConfigDict(dict(
        token_file="", image_dir="", train_list="", validation_list="", test_list=""))
    config.data.tfds = ml_collections.ConfigDict(dict(
        data_dir="", train_split="train+restval", validation_split="val", test_split="test"))

    config.tokenizer = ml_collections.ConfigDict()
    config.tokenizer.source = "train"        # "train" (BPE on train captions) or a keras-hub preset
    config.tokenizer.vocab_size = 1000
    config.tokenizer.min_frequency = 2

    config.pipeline = ml_collections.ConfigDict()
    config.pipeline.batch_size = 32
    config.pipeline.eval_batch_size = 64
    config.pipeline.bucket_boundaries = (12, 16, 20, 24, 28)
    config.pipeline.captioner_image_size = 64
    config.pipeline.captioner_normalization = "imagenet"
    config.pipeline.gan_image_size = 64
    config.pipeline.encoder_image_size = 64

    config.lock()
    return config


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first key whose value cannot work."""
    data = config.data
    _require(data.source in SOURCES, "data.source", data.source, f"one of {SOURCES}")
    _require(data.max_caption_words > 0, "data.max_caption_words", data.max_caption_words, "> 0")
    _require(data.max_caption_tokens >= 3, "data.max_caption_tokens", data.max_caption_tokens, ">= 3")
    _require(0 <= data.validation_fraction + data.test_fraction < 1, "data.validation_fraction",
             data.validation_fraction, "fractions summing to less than 1")
    _require(config.pipeline.captioner_normalization in NORMALIZATIONS,
             "pipeline.captioner_normalization", config.pipeline.captioner_normalization,
             f"one of {NORMALIZATIONS}")
    _require(config.pipeline.batch_size > 0, "pipeline.batch_size", config.pipeline.batch_size, "> 0")
    _require(list(config.pipeline.bucket_boundaries) == sorted(config.pipeline.bucket_boundaries),
             "pipeline.bucket_boundaries", config.pipeline.bucket_boundaries, "increasing")
    if data.source in ("coco", "karpathy", "flickr8k"):
        paths = data[data.source]
        for key, path in paths.items():
            if key.endswith("_list") and not path:
                continue
            _require(path and os.path.exists(path), f"data.{data.source}.{key}", path,
                     "an existing path")


def _require(ok: bool, key: str, value, expected: str) -> None:
    if not ok:
        raise ValueError(f"config key {key}={value!r} is invalid: expected {expected}")
