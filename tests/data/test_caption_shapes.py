"""Tests of the caption_shapes dataset: building with tfds, determinism, splits, ground truth."""

import io
import itertools
import json
import os

import numpy as np
import pytest
from PIL import Image

from caption_aug.data.caption_shapes import (CaptionShapes, CaptionShapesConfig,
                                             load_caption_shapes, prepare_caption_shapes, render,
                                             sample_scene)
from caption_aug.data.caption_shapes import builder, scene, vocabulary
from caption_aug.data.example import Example

HOLDOUT = (("red", "circle"), ("blue", "square"))
PARAMS = dict(resolution=32, train_size=150, validation_size=40, test_size=40, seed=3,
              holdout=HOLDOUT)
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    prepare_caption_shapes(str(path), **PARAMS)
    return path


@pytest.fixture(scope="module")
def splits(data_dir):
    return {split: load_caption_shapes(split, str(data_dir), **PARAMS) for split in SPLITS}


def test_prepare_writes_every_split_under_data_dir(data_dir):
    builder_ = CaptionShapes(config=CaptionShapesConfig(**PARAMS), data_dir=str(data_dir))
    assert builder_.data_dir.startswith(str(data_dir))
    for split in SPLITS:
        assert builder_.info.splits[split].num_examples == PARAMS[f"{split}_size"]
        assert any(name.startswith(f"caption_shapes-{split}.tfrecord")
                   for name in os.listdir(builder_.data_dir))


def test_load_gives_examples_with_png_bytes_five_captions_and_metadata(splits):
    for split in SPLITS:
        examples = splits[split]
        assert len(examples) == PARAMS[f"{split}_size"]
        for example in examples:
            assert isinstance(example, Example)
            assert isinstance(example.image_id, int)
            assert example.image[:8] == b"\x89PNG\r\n\x1a\n"
            pixels = np.asarray(Image.open(io.BytesIO(example.image)))
            assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
            assert len(example.captions) == 5 and len(set(example.captions)) == 5
            assert all(isinstance(c, str) and c for c in example.captions)
            json.dumps(example.metadata)
    ids = [e.image_id for split in SPLITS for e in splits[split]]
    assert len(set(ids)) == len(ids)
    assert [e.image_id for e in splits["train"]] == sorted(e.image_id for e in splits["train"])


def test_metadata_is_the_generated_scene(splits):
    config = CaptionShapesConfig(**PARAMS)
    for split in SPLITS:
        for index in (0, 7):
            image_id, the_scene, image, captions = builder.generate_example(config, split, index)
            example = next(e for e in splits[split] if e.image_id == image_id)
            assert example.metadata == the_scene.as_dict()
            assert list(example.captions) == captions
            np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(example.image))),
                                          image)


def test_same_parameters_give_identical_examples_and_another_seed_differs(splits, tmp_path):
    # Same PNG bytes, captions and metadata. (The tfrecord files themselves may differ between
    # processes: protobuf writes a tf.train.Example's feature map in a per-process order.)
    for split in SPLITS:
        assert load_caption_shapes(split, str(tmp_path / "again"), **PARAMS) == splits[split]

    small = dict(PARAMS, train_size=5, validation_size=5, test_size=5)
    reseeded = load_caption_shapes("test", str(tmp_path / "seed"), **dict(small, seed=4))
    same = load_caption_shapes("test", str(tmp_path / "seed"), **small)
    assert all(a.image != b.image and a.captions != b.captions
               for a, b in zip(reseeded, same))


def test_distinct_parameters_never_share_a_folder():
    names = {CaptionShapesConfig(**p).name for p in (
        {}, {"seed": 1}, {"resolution": 32}, {"train_size": 10}, {"validation_size": 10},
        {"test_size": 10}, {"holdout": HOLDOUT}, {"holdout": HOLDOUT, "novel_fraction": 1.0})}
    assert len(names) == 8
    assert CaptionShapesConfig(holdout=[["circle", "RED"]]).name == \
        CaptionShapesConfig(holdout=(("red", "circle"),)).name
    default = CaptionShapes(config=CaptionShapesConfig(), data_dir="/nonexistent")
    assert default.builder_config is CaptionShapes.BUILDER_CONFIGS[0]


@pytest.mark.parametrize("params, key", [
    ({"resolution": 8}, "resolution"),
    ({"train_size": -1}, "train_size"),
    ({"validation_size": 1.5}, "validation_size"),
    ({"seed": -2}, "seed"),
    ({"holdout": [("red", "blue")]}, "holdout"),
    ({"holdout": [("red", "blob")]}, "holdout"),
    ({"holdout": ["red"]}, "holdout"),
    ({"holdout": [("small",), ("large",)]}, "holdout"),
    ({"novel_fraction": 2.0}, "novel_fraction"),
])
def test_bad_parameters_fail_naming_the_key(params, key):
    with pytest.raises(ValueError, match=key):
        CaptionShapesConfig(**params)


def _shows_holdout(obj: dict) -> bool:
    return scene.shows_combination((obj["shape"], obj["colour"], obj["size"]), HOLDOUT)


def test_compositional_split_holds_combinations_out_of_train_only(splits):
    assert not any(_shows_holdout(o) for e in splits["train"] for o in e.metadata["objects"])
    for split in ("validation", "test"):
        novel = [e for e in splits[split] if e.metadata["novel"]]
        assert 0 < len(novel) < len(splits[split])   # novel_fraction 0.5
        for example in splits[split]:
            shown = sum(_shows_holdout(o) for o in example.metadata["objects"])
            assert shown == (1 if example.metadata["novel"] else 0)
    test_combinations = {(o["colour"], o["shape"]) for e in splits["test"]
                         for o in e.metadata["objects"] if _shows_holdout(o)}
    assert test_combinations == set(HOLDOUT)


def test_relations_follow_positions_with_a_clear_main_axis(splits):
    scenes = [e.metadata for e in splits["train"]]
    scenes += [sample_scene(np.random.default_rng(i)).as_dict() for i in range(500)]
    for attributes in scenes:
        objects = attributes["objects"]
        pairs = {(r["subject"], r["object"]): r["relation"] for r in attributes["relations"]}
        assert set(pairs) == set(itertools.permutations(range(len(objects)), 2))
        for (i, j), relation in pairs.items():
            dx = objects[i]["x"] - objects[j]["x"]
            dy = objects[i]["y"] - objects[j]["y"]
            assert max(abs(dx), abs(dy)) >= scene.AXIS_RATIO * min(abs(dx), abs(dy))
            expected = (("left of" if dx < 0 else "right of") if abs(dx) >= abs(dy)
                        else ("above" if dy < 0 else "below"))
            assert relation == expected
            gap = np.hypot(dx, dy) - objects[i]["radius"] - objects[j]["radius"]
            assert gap >= scene.GAP - 1e-9
        for obj in objects:
            ymin, xmin, ymax, xmax = obj["bbox"]
            assert 0 <= ymin < obj["y"] < ymax <= 1 and 0 <= xmin < obj["x"] < xmax <= 1


def _nearest_palette_colour(rgb) -> str:
    return min(vocabulary.PALETTE,
               key=lambda c: np.sum((np.array(vocabulary.PALETTE[c]) - rgb) ** 2))


def test_objects_are_visible_and_backgrounds_never_look_like_them():
    counts = {"shape": set(), "colour": set(), "size": set(), "style": set(), "tone": set()}
    for i in range(300):
        the_scene = sample_scene(np.random.default_rng(i))
        image = render(the_scene, 64).astype(int)
        assert image.shape == (64, 64, 3)
        for obj in the_scene.objects:
            pixel = image[int(obj.y * 64), int(obj.x * 64)]
            assert _nearest_palette_colour(pixel) == obj.colour
            assert np.abs(pixel - np.array(obj.rgb)).max() <= 2
            counts["shape"].add(obj.shape)
            counts["colour"].add(obj.colour)
            counts["size"].add(obj.size)
        corner = image[0, 0]   # objects keep EDGE_MARGIN from the border
        assert min(np.linalg.norm(corner - np.array(c)) for c in vocabulary.PALETTE.values()) > 60
        counts["style"].add(the_scene.background.style)
        counts["tone"].add(the_scene.background.tone)
    assert {k: len(v) for k, v in counts.items()} == {
        "shape": 7, "colour": 8, "size": 2, "style": 3, "tone": 2}


def test_large_objects_are_larger_than_small_ones():
    radii = {"small": [], "large": []}
    for i in range(300):
        for obj in sample_scene(np.random.default_rng(i)).objects:
            radii[obj.size].append(obj.radius)
    assert max(radii["small"]) * 1.3 < min(radii["large"])
