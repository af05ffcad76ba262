"""How a caption_shapes example is stored in tfds, and how it is read back.

Ground truth is stored as typed features (class labels, floats, bounding boxes) so tfds users
can filter on it; `decode` turns a read example back into the `Scene.as_dict()` structure.
"""

import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.data.caption_shapes.scene import DECIMALS


def feature_spec(resolution: int) -> tfds.features.FeaturesDict:
    label = tfds.features.ClassLabel
    return tfds.features.FeaturesDict({
        "image_id": np.int64,
        "image": tfds.features.Image(shape=(resolution, resolution, 3), encoding_format="png"),
        "captions": tfds.features.Sequence(tfds.features.Text()),
        "objects": tfds.features.Sequence({
            "shape": label(names=vocab.SHAPES),
            "colour": label(names=vocab.COLOURS),
            "size": label(names=vocab.SIZES),
            "x": np.float32,
            "y": np.float32,
            "radius": np.float32,
            "bbox": tfds.features.BBoxFeature(),
            "rgb": tfds.features.Tensor(shape=(3,), dtype=np.uint8),
        }),
        "relations": tfds.features.Sequence({
            "subject": np.int32,
            "relation": label(names=vocab.RELATIONS),
            "object": np.int32,
        }),
        "background": {
            "style": label(names=vocab.STYLES),
            "tone": label(names=vocab.TONES),
            "colours": tfds.features.Tensor(shape=(2, 3), dtype=np.uint8),
        },
        "novel": np.bool_,
    })


def encode(image_id: int, image: np.ndarray, captions: list, attributes: dict) -> dict:
    """An example for `feature_spec`, from a scene's `as_dict()` attributes. The image is
    PNG-encoded here with PIL, quicker than tfds's per-image TensorFlow call."""
    objects = [{**o, "bbox": np.array(o["bbox"], np.float32), "rgb": np.array(o["rgb"], np.uint8)}
               for o in attributes["objects"]]
    background = attributes["background"]
    return {
        "image_id": image_id,
        "image": _png(image),
        "captions": list(captions),
        "objects": objects,
        "relations": attributes["relations"],
        "background": {**background, "colours": np.array(background["colours"], np.uint8)},
        "novel": attributes["novel"],
    }


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(example: dict) -> tuple:
    """(image_id, captions as str, attributes as in `Scene.as_dict()`) of a numpy example."""
    o, r, b = example["objects"], example["relations"], example["background"]
    objects = [{
        "shape": vocab.SHAPES[o["shape"][k]],
        "colour": vocab.COLOURS[o["colour"][k]],
        "size": vocab.SIZES[o["size"][k]],
        **{key: round(float(o[key][k]), DECIMALS) for key in ("x", "y", "radius")},
        "bbox": [round(float(v), DECIMALS) for v in o["bbox"][k]],
        "rgb": [int(v) for v in o["rgb"][k]],
    } for k in range(len(o["shape"]))]
    relations = [{"subject": int(r["subject"][k]), "relation": vocab.RELATIONS[r["relation"][k]],
                  "object": int(r["object"][k])} for k in range(len(r["relation"]))]
    attributes = {
        "objects": objects,
        "relations": relations,
        "background": {"style": vocab.STYLES[b["style"]], "tone": vocab.TONES[b["tone"]],
                       "colours": b["colours"].astype(int).tolist()},
        "novel": bool(example["novel"]),
    }
    captions = tuple(c.decode("utf-8") for c in example["captions"])
    return int(example["image_id"]), captions, attributes
