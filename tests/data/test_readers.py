"""Tests of the real-data readers on the real COCO sample and on small files built from it."""

import io
import json
import os
import shutil

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from caption_aug.data.example import SkipCounter
from caption_aug.data.readers import (read_coco_captions, read_flickr8k, read_karpathy,
                                      read_tfds_coco_captions)
from caption_aug.text.text_io import is_valid_utf8
from tests.conftest import COCO_SAMPLE_DIR as SAMPLE_DIR

SAMPLE_JSON = os.path.join(SAMPLE_DIR, "captions_val2017_sample.json")
FULL_VAL_JSON = os.path.join(SAMPLE_DIR, "captions_val2017.json")
SAMPLE_IMAGES = os.path.join(SAMPLE_DIR, "images")
BAD_BYTES = b"\xff\xfe"


@pytest.fixture(scope="module")
def sample():
    """The real sample's images (COCO dicts) with their captions in annotation-id order."""
    with open(SAMPLE_JSON, encoding="utf-8") as f:
        data = json.load(f)
    captions = {}
    for ann in sorted(data["annotations"], key=lambda ann: ann["id"]):
        captions.setdefault(ann["image_id"], []).append(ann["caption"])
    return [(image, tuple(captions[image["id"]])) for image in data["images"]]


def _write_bytes(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _write_json(path, data) -> str:
    return _write_bytes(path, json.dumps(data, ensure_ascii=False).encode("utf-8"))


def _copy_image(file_name: str, dest_dir, new_name: str = "") -> None:
    """Copies one real sample JPEG into a test folder, renamed when `new_name` is given."""
    os.makedirs(dest_dir, exist_ok=True)
    shutil.copy(os.path.join(SAMPLE_IMAGES, file_name),
                       os.path.join(dest_dir, new_name or file_name))


def _with_bad_bytes(text: str) -> bytes:
    """UTF-8 text whose "@BAD@" marker becomes bytes that are not UTF-8."""
    return text.encode("utf-8").replace(b"@BAD@", BAD_BYTES)


# MS-COCO captions JSON


def test_coco_sample_loads_every_image_and_caption(sample):
    examples = read_coco_captions(SAMPLE_JSON, SAMPLE_IMAGES)
    assert len(examples) == 40
    assert sum(len(example.captions) for example in examples) == 200
    assert all(os.path.isfile(example.image) for example in examples)
    assert [example.image_id for example in examples] == [image["id"] for image, _ in sample]
    assert [example.captions for example in examples] == [captions for _, captions in sample]
    assert examples[0].image == os.path.join(SAMPLE_IMAGES, sample[0][0]["file_name"])


def test_coco_full_val2017_loads_with_most_images_absent():
    examples = read_coco_captions(FULL_VAL_JSON, SAMPLE_IMAGES)
    assert len(examples) == 5000
    assert sum(len(example.captions) for example in examples) == 25014
    assert sum(os.path.isfile(example.image) for example in examples) == 40


def test_coco_keeps_uncaptioned_images_and_counts_orphan_captions(tmp_path):
    path = _write_json(tmp_path / "captions.json", {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [{"id": 12, "image_id": 1, "caption": "second by id"},
                        {"id": 11, "image_id": 1, "caption": "first by id"},
                        {"id": 13, "image_id": 99, "caption": "no such image"},
                        {"id": 14, "image_id": 2, "caption": None}]})
    skips = SkipCounter()
    examples = read_coco_captions(path, str(tmp_path), skips=skips)
    assert [(example.image_id, example.captions) for example in examples] == [
        (1, ("first by id", "second by id")), (2, ())]
    assert dict(skips.counts) == {"caption_without_image": 1, "malformed_annotation_entry": 1}


_REPEATED_IDS = {
    "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
    "annotations": [{"id": 11, "image_id": 1, "caption": "the first with id 11"},
                    {"id": 12, "image_id": 2, "caption": "the only with id 12"},
                    {"id": 11, "image_id": 2, "caption": "a second with id 11"},
                    {"id": 11, "image_id": 1, "caption": "a third with id 11"}]}


def test_coco_keeps_the_first_annotation_of_a_repeated_id_and_counts_the_others(tmp_path):
    path = _write_json(tmp_path / "captions.json", _REPEATED_IDS)
    skips = SkipCounter()
    examples = read_coco_captions(path, str(tmp_path), skips=skips)
    assert [(example.image_id, example.captions) for example in examples] == [
        (1, ("the first with id 11",)), (2, ("the only with id 12",))]
    assert dict(skips.counts) == {"annotation_duplicate_id": 2}
    assert skips.examples["annotation_duplicate_id"] == [
        "annotation 11: 'a second with id 11'", "annotation 11: 'a third with id 11'"]


def test_text_only_captions_keep_the_first_annotation_of_a_repeated_id(tmp_path):
    from caption_aug.data.readers import text_only
    path = _write_json(tmp_path / "captions.json", _REPEATED_IDS)
    skips = SkipCounter()
    examples = text_only.read_text_only_captions(path, 50, skips)
    assert sorted((example.image_id, example.captions) for example in examples) == [
        (1, ("the first with id 11",)), (2, ("the only with id 12",))]
    assert dict(skips.counts) == {"annotation_duplicate_id": 2}


def test_coco_non_utf8_caption_survives_without_sinking_the_file(tmp_path, sample):
    (image, captions), (other_image, other_captions) = sample[:2]
    data = {"images": [image, other_image],
            "annotations": [{"id": i, "image_id": image["id"], "caption": caption}
                            for i, caption in enumerate(captions)]
            + [{"id": 10 + i, "image_id": other_image["id"], "caption": caption}
               for i, caption in enumerate(other_captions)]}
    data["annotations"][1]["caption"] = "A caption with @BAD@ bytes"
    path = _write_bytes(tmp_path / "captions.json",
                        _with_bad_bytes(json.dumps(data, ensure_ascii=False)))
    first, second = read_coco_captions(path, SAMPLE_IMAGES)
    assert not is_valid_utf8(first.captions[1])
    assert first.captions[1].encode("utf-8", errors="surrogateescape") == (
        b"A caption with " + BAD_BYTES + b" bytes")
    assert first.captions[:1] + first.captions[2:] == captions[:1] + captions[2:]
    assert second.captions == other_captions
    assert all(is_valid_utf8(caption) for caption in second.captions)


def test_coco_rejects_a_file_that_is_not_coco_json(tmp_path):
    broken = _write_bytes(tmp_path / "broken.json", b"{not json")
    with pytest.raises(ValueError, match="not valid JSON: .*broken.json"):
        read_coco_captions(broken, SAMPLE_IMAGES)
    listless = _write_json(tmp_path / "listless.json", {"annotations": []})
    with pytest.raises(ValueError, match="no 'images' list"):
        read_coco_captions(listless, SAMPLE_IMAGES)


# Karpathy split JSON


@pytest.fixture
def karpathy_coco(tmp_path, sample):
    """A dataset_coco.json over four sample images laid out as train2014/ and val2014/."""
    image_dir = tmp_path / "coco2014"
    layout = [("train", "train2014"), ("restval", "val2014"), ("val", "val2014"),
              ("test", "val2014")]
    entries = []
    for imgid, ((image, captions), (split, folder)) in enumerate(zip(sample, layout)):
        filename = f"COCO_{folder}_{image['id']:012d}.jpg"
        _copy_image(image["file_name"], image_dir / folder, filename)
        entries.append({"filepath": folder, "filename": filename, "imgid": imgid, "split": split,
                        "cocoid": image["id"], "sentids": list(range(len(captions))),
                        "sentences": [{"tokens": caption.lower().split(), "raw": caption,
                                       "imgid": imgid, "sentid": sentid}
                                      for sentid, caption in enumerate(captions)]})
    path = _write_json(tmp_path / "dataset_coco.json", {"images": entries, "dataset": "coco"})
    return path, str(image_dir), sample[:4]


def test_karpathy_train_takes_restval_and_paths_use_filepath(karpathy_coco):
    path, image_dir, images = karpathy_coco
    train = read_karpathy(path, image_dir, "train")
    assert [example.image_id for example in train] == [images[0][0]["id"], images[1][0]["id"]]
    assert [example.captions for example in train] == [images[0][1], images[1][1]]
    assert train[0].image == os.path.join(image_dir, "train2014",
                                          f"COCO_train2014_{images[0][0]['id']:012d}.jpg")
    assert all(os.path.isfile(example.image) for example in train)


def test_karpathy_val_and_test_keep_only_their_images(karpathy_coco):
    path, image_dir, images = karpathy_coco
    assert [e.image_id for e in read_karpathy(path, image_dir, "val")] == [images[2][0]["id"]]
    test = read_karpathy(path, image_dir, "test")
    assert [example.image_id for example in test] == [images[3][0]["id"]]
    assert os.path.isfile(test[0].image)


def test_karpathy_flickr_style_uses_imgid_and_no_filepath(tmp_path, sample):
    image_dir = tmp_path / "Flicker8k_Dataset"
    entries = []
    for imgid, (image, captions) in enumerate(sample[:3]):
        _copy_image(image["file_name"], image_dir)
        entries.append({"filename": image["file_name"], "imgid": imgid,
                        "split": ["train", "val", "train"][imgid],
                        "sentences": [{"raw": caption, "tokens": caption.split()}
                                      for caption in captions]})
    entries.append({"imgid": 3, "split": "train", "sentences": []})
    entries.append({"filename": "x.jpg", "imgid": 4, "split": "holdout", "sentences": []})
    path = _write_json(tmp_path / "dataset_flickr8k.json",
                       {"images": entries, "dataset": "flickr8k"})
    skips = SkipCounter()
    train = read_karpathy(path, str(image_dir), "train", skips=skips)
    assert [example.image_id for example in train] == [0, 2]
    assert train[1].image == os.path.join(str(image_dir), sample[2][0]["file_name"])
    assert train[1].captions == sample[2][1]
    assert all(os.path.isfile(example.image) for example in train)
    assert dict(skips.counts) == {"malformed_annotation_entry": 1, "unknown_split_label": 1}


# Flickr8k token file


def _flickr8k_files(tmp_path, sample, token_bytes: bytes = b""):
    """Flickr8k-style files over three sample images: token file, image folder, split lists."""
    image_dir = tmp_path / "Flicker8k_Dataset"
    lines = []
    for image, captions in sample[:3]:
        _copy_image(image["file_name"], image_dir)
        lines += [f"{image['file_name']}#{n}\t{caption}" for n, caption in enumerate(captions)]
    lines[0], lines[1] = lines[1], lines[0]  # caption numbers, not line order, give the order
    lines[3:3] = ["a line without a tab", "no_hash.jpg\tA caption.", "x.jpg#one\tA caption.", ""]
    token = _write_bytes(tmp_path / "Flickr8k.token.txt",
                         "\n".join(lines).encode("utf-8") + b"\n" + token_bytes)
    names = [image["file_name"] for image, _ in sample[:3]]
    train = _write_bytes(tmp_path / "Flickr_8k.trainImages.txt",
                         f"{names[2]}\n{names[0]}\nmissing.jpg\n".encode())
    test = _write_bytes(tmp_path / "Flickr_8k.testImages.txt", f"{names[1]}\n".encode())
    return token, str(image_dir), train, test


def test_flickr8k_reads_split_with_stable_ids_and_counts_bad_lines(tmp_path, sample):
    token, image_dir, train_list, test_list = _flickr8k_files(tmp_path, sample)
    skips = SkipCounter()
    train = read_flickr8k(token, image_dir, train_list, skips=skips)
    test = read_flickr8k(token, image_dir, test_list)
    names = sorted(image["file_name"] for image, _ in sample[:3])
    assert [example.image for example in train] == [
        os.path.join(image_dir, sample[2][0]["file_name"]),
        os.path.join(image_dir, sample[0][0]["file_name"])]
    assert [example.image_id for example in train + test] == [
        names.index(sample[2][0]["file_name"]), names.index(sample[0][0]["file_name"]),
        names.index(sample[1][0]["file_name"])]
    assert [example.captions for example in train] == [sample[2][1], sample[0][1]]
    assert all(os.path.isfile(example.image) for example in train + test)
    assert dict(skips.counts) == {"malformed_annotation_line": 3,
                                  "split_entry_without_captions": 1}
    assert skips.examples["split_entry_without_captions"] == ["missing.jpg"]


def test_flickr8k_non_utf8_caption_survives_without_sinking_the_file(tmp_path, sample):
    name = sample[0][0]["file_name"]
    token, image_dir, train_list, _ = _flickr8k_files(
        tmp_path, sample, _with_bad_bytes(f"{name}#5\tA dog @BAD@ runs .\n"))
    first, second = read_flickr8k(token, image_dir, train_list)
    assert second.captions[:5] == sample[0][1]
    assert not is_valid_utf8(second.captions[5])
    assert all(is_valid_utf8(caption) for caption in first.captions + second.captions[:5])


def test_flickr8k_rejects_a_file_with_no_token_line(tmp_path, sample):
    _, image_dir, train_list, _ = _flickr8k_files(tmp_path, sample)
    csv = _write_bytes(tmp_path / "captions.txt", b"image,caption\na.jpg,A dog.\n")
    with pytest.raises(ValueError, match="not a Flickr8k token file"):
        read_flickr8k(csv, image_dir, train_list)


# tfds coco_captions


def test_tfds_coco_captions_yields_encoded_images_and_captions(tmp_path, sample):
    chosen = sample[:3]
    jpegs = {}
    for image, _ in chosen:
        with open(os.path.join(SAMPLE_IMAGES, image["file_name"]), "rb") as f:
            jpegs[image["id"]] = f.read()

    def as_dataset(builder, split, decoders=None, **unused):
        """Serves the chosen sample images through the builder's own features, as tfds reads."""
        features = builder.info.features
        records = [features.serialize_example({
            "image": io.BytesIO(jpegs[image["id"]]), "image/id": image["id"],
            "image/filename": image["file_name"],
            "objects": {"id": [], "area": [], "bbox": [], "label": [], "is_crowd": []},
            "captions": [{"id": n, "text": caption} for n, caption in enumerate(captions)]})
            for image, captions in chosen]
        return tf.data.Dataset.from_tensor_slices(records).map(
            lambda record: features.deserialize_example(record, decoders=decoders))

    with tfds.testing.mock_data(num_examples=len(chosen), as_dataset_fn=as_dataset,
                                policy=tfds.testing.MockPolicy.USE_CODE):
        examples = read_tfds_coco_captions("val", data_dir=str(tmp_path))
    assert [example.image_id for example in examples] == [image["id"] for image, _ in chosen]
    assert [example.image for example in examples] == [jpegs[image["id"]] for image, _ in chosen]
    assert [example.captions for example in examples] == [captions for _, captions in chosen]


def test_tfds_coco_captions_never_downloads(tmp_path):
    with pytest.raises(AssertionError, match="could not find data"):
        read_tfds_coco_captions("val", data_dir=str(tmp_path))
    assert not os.listdir(tmp_path)


# Errors: one line, naming what is wrong


def _one_line_error(error_type, call) -> str:
    with pytest.raises(error_type) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_annotation_files_are_named(tmp_path):
    missing = str(tmp_path / "nope.json")
    calls = [lambda: read_coco_captions(missing, SAMPLE_IMAGES),
             lambda: read_karpathy(missing, SAMPLE_IMAGES, "train"),
             lambda: read_flickr8k(missing, SAMPLE_IMAGES, SAMPLE_JSON),
             lambda: read_flickr8k(SAMPLE_JSON, SAMPLE_IMAGES, missing)]
    for call in calls:
        assert missing in _one_line_error(FileNotFoundError, call)


def test_missing_image_folders_are_named(tmp_path):
    missing = str(tmp_path / "no_images")
    calls = [lambda: read_coco_captions(SAMPLE_JSON, missing),
             lambda: read_karpathy(SAMPLE_JSON, missing, "train"),
             lambda: read_flickr8k(SAMPLE_JSON, missing, SAMPLE_JSON)]
    for call in calls:
        message = _one_line_error(FileNotFoundError, call)
        assert missing in message and "image folder" in message


def test_unknown_splits_are_named_with_the_valid_ones():
    message = _one_line_error(ValueError, lambda: read_karpathy(SAMPLE_JSON, SAMPLE_IMAGES, "dev"))
    assert "'dev'" in message and "train, val, test" in message
    message = _one_line_error(ValueError, lambda: read_tfds_coco_captions("train+validation"))
    assert "'validation'" in message and "train, val, test, restval" in message
