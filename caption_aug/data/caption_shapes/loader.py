"""Building caption_shapes offline and reading a split as Examples."""

import tensorflow_datasets as tfds

from caption_aug.data.caption_shapes import features
from caption_aug.data.caption_shapes.builder import CaptionShapes, CaptionShapesConfig
from caption_aug.data.example import Example


def prepare_caption_shapes(data_dir: str, **params) -> CaptionShapes:
    """The builder for `params` (the fields of CaptionShapesConfig), generated under
    `data_dir` unless already there. Never touches the network."""
    builder = CaptionShapes(config=CaptionShapesConfig(**params), data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder


def load_caption_shapes(split: str, data_dir: str, **params) -> list:
    """The split's Examples, ordered by image_id: PNG bytes as `image`, 5 str captions, and the
    scene's attributes (`Scene.as_dict()`) as `metadata`."""
    builder = prepare_caption_shapes(data_dir, **params)
    dataset = builder.as_dataset(split=split, shuffle_files=False,
                                 decoders={"image": tfds.decode.SkipDecoding()})
    examples = []
    for example in tfds.as_numpy(dataset):
        image_id, captions, attributes = features.decode(example)
        examples.append(Example(image_id, example["image"], captions, attributes))
    return sorted(examples, key=lambda e: e.image_id)
