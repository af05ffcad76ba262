import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from caption_aug.data import corpus
from caption_aug.data import pipelines
from caption_aug.text import normalize
from caption_aug.text import tokenizer as tokenizer_lib

MAX_TOKENS = 16
GRAYSCALE_ID = 431848


@pytest.fixture(scope="module")
def coco_split(coco_sample_dir):
    """The first 40 real COCO sample images (incl. the grayscale one) as a Split of file paths."""
    with open(os.path.join(coco_sample_dir, "captions_val2017_sample.json")) as f:
        data = json.load(f)
    captions = collections.defaultdict(list)
    for ann in data["annotations"]:
        captions[ann["image_id"]].append(normalize.normalize_caption(ann["caption"]))
    images = sorted(data["images"], key=lambda im: (im["id"] != GRAYSCALE_ID, im["id"]))[:40]
    return corpus.Split(
        name="train",
        image_ids=np.array([im["id"] for im in images], dtype=np.int64),
        images=[os.path.join(coco_sample_dir, "images", im["file_name"]) for im in images],
        captions=[captions[im["id"]] for im in images])


@pytest.fixture(scope="module")
def tok(coco_split, tmp_path_factory):
    return tokenizer_lib.CaptionTokenizer.train(
        coco_split.flat_captions, str(tmp_path_factory.mktemp("tok")), vocab_size=600)


@pytest.fixture(scope="module")
def tokens(coco_split, tok):
    coco_split.caption_tokens = tok.encode(coco_split.flat_captions)
    return pipelines.frame_tokens(coco_split.caption_tokens, tok, MAX_TOKENS)


def test_frame_tokens_adds_start_end_and_cuts(tok):
    framed = pipelines.frame_tokens([[5, 6], list(range(10, 40))], tok, max_tokens=8).to_list()
    assert framed[0] == [tok.start_id, 5, 6, tok.end_id]
    assert framed[1] == [tok.start_id] + list(range(10, 16)) + [tok.end_id]


def test_lm_dataset_covers_each_caption_once_per_epoch_in_seeded_order(coco_split, tokens, tok):
    ds = pipelines.lm_dataset(coco_split, tokens, tok.pad_id, batch_size=8,
                              bucket_boundaries=(8, 12), training=False, seed=0)
    seen = []
    for batch in ds:
        ids, mask = batch["token_ids"].numpy(), batch["padding_mask"].numpy()
        for row, row_mask, index in zip(ids, mask, batch["caption_index"].numpy()):
            assert row[row_mask].tolist() == tokens[index].numpy().tolist()
            assert (row[~row_mask] == tok.pad_id).all()
        seen += batch["caption_index"].numpy().tolist()
    assert sorted(seen) == list(range(len(coco_split.flat_captions)))

    def order(seed):
        ds = pipelines.lm_dataset(coco_split, tokens, tok.pad_id, 8, (8, 12), True, seed)
        return [np.concatenate([b["caption_index"].numpy() for b in ds]) for _ in range(2)]
    epoch1, epoch2 = order(seed=1)
    again1, _ = order(seed=1)
    np.testing.assert_array_equal(epoch1, again1)
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, order(seed=2)[0])


def test_lm_dataset_buckets_by_length(coco_split, tokens, tok):
    ds = pipelines.lm_dataset(coco_split, tokens, tok.pad_id, 16, (8, 12), True, 0)
    for batch in ds:
        lengths = batch["padding_mask"].numpy().sum(1)
        assert lengths.max() == batch["token_ids"].shape[1]
        bucket = np.digitize(lengths, [8, 12])
        assert len(set(bucket)) == 1


@pytest.mark.parametrize("cache_mb", [0, 100])
def test_captioner_dataset_pairs_images_with_their_captions(coco_split, tokens, tok, cache_mb):
    loader = pipelines.ImageLoader(coco_split, size=32, cache_max_mb=cache_mb)
    assert loader.cached == (cache_mb > 0)
    ds = pipelines.captioner_dataset(coco_split, tokens, loader, tok.pad_id, 8, (8, 12),
                                     "imagenet", training=True, seed=0)
    image_of_caption = coco_split.caption_image_index
    for batch in ds.take(3):
        assert batch["image"].shape[1:] == (32, 32, 3) and batch["image"].dtype == tf.float32
        np.testing.assert_array_equal(image_of_caption[batch["caption_index"].numpy()],
                                      batch["image_index"].numpy())
        ids = batch["token_ids"].numpy()
        assert (ids[:, 0] == tok.start_id).all()
        last = batch["padding_mask"].numpy().sum(1) - 1
        assert (ids[np.arange(len(ids)), last] == tok.end_id).all()


def test_cached_and_decoded_images_are_identical_and_grayscale_becomes_rgb(coco_split):
    cached = pipelines.ImageLoader(coco_split, size=24, cache_max_mb=100)
    uncached = pipelines.ImageLoader(coco_split, size=24, cache_max_mb=0)
    for loader in (cached, uncached):
        ds = pipelines.eval_dataset(coco_split, loader, batch_size=10, normalization="unit")
        batch = next(iter(ds))
        assert batch["image_id"].numpy()[0] == GRAYSCALE_ID
        gray = batch["image"].numpy()[0]
        np.testing.assert_allclose(gray[..., 0], gray[..., 2])
        if loader is cached:
            first = batch["image"].numpy()
    np.testing.assert_array_equal(first, batch["image"].numpy())


def test_normalizations():
    pixels = tf.constant([[[[0, 128, 255]]]], tf.uint8)
    np.testing.assert_allclose(pipelines.normalize_images(pixels, "tanh").numpy().ravel(),
                               [-1, 128 / 255 * 2 - 1, 1], atol=1e-6)
    np.testing.assert_allclose(pipelines.normalize_images(pixels, "unit").numpy().ravel(),
                               [0, 128 / 255, 1], atol=1e-6)
    imagenet = pipelines.normalize_images(pixels, "imagenet").numpy().ravel()
    np.testing.assert_allclose(imagenet[0], (0 - 0.485) / 0.229, atol=1e-5)


def test_matching_dataset_draws_mismatched_captions_from_other_images(coco_split, tokens, tok):
    loader = pipelines.ImageLoader(coco_split, size=16, cache_max_mb=100)
    ds = pipelines.matching_dataset(coco_split, tokens, loader, tok.pad_id, MAX_TOKENS, 8,
                                    "tanh", training=True, seed=3)
    texts = {tuple(t): image for image, t in zip(coco_split.caption_image_index,
                                                  tokens.to_list())}
    draws = []
    for batch in ds:
        assert batch["token_ids"].shape == (8, MAX_TOKENS) == batch["wrong_token_ids"].shape
        assert float(tf.reduce_min(batch["image"])) >= -1 and float(tf.reduce_max(batch["image"])) <= 1
        for wrong, mask, image in zip(batch["wrong_token_ids"].numpy(),
                                      batch["wrong_padding_mask"].numpy(),
                                      batch["image_index"].numpy()):
            assert texts[tuple(wrong[mask])] != image
            draws.append(tuple(wrong[mask]))
    assert len(set(draws)) > len(draws) // 3


def test_eval_dataset_carries_all_references(coco_split):
    loader = pipelines.ImageLoader(coco_split, size=16, cache_max_mb=100)
    batch = next(iter(pipelines.eval_dataset(coco_split, loader, 40, "unit")))
    refs = [[r.decode() for r in row if r] for row in batch["references"].numpy()]
    assert refs == coco_split.captions
    np.testing.assert_array_equal(batch["image_id"].numpy(), coco_split.image_ids)
