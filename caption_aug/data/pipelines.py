"""tf.data pipelines, one per consumer: caption LM, sentence encoder / GAN, captioner, evaluation.

Everything per-example runs as TensorFlow ops inside tf.data: captions are tokenised once when the
data is prepared and live here as a ragged tensor; images are decoded with `channels=3` (grayscale,
RGBA and CMYK all become RGB) and resized in parallel maps, or, where the split fits in
`cache_max_mb`, decoded once into an in-memory uint8 table that batches gather from.
"""

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from caption_aug.data import corpus
from caption_aug.text import tokenizer as tokenizer_lib

AUTOTUNE = tf.data.AUTOTUNE
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def decode_and_resize(image: tf.Tensor, is_path: bool, size: int) -> tf.Tensor:
    """Encoded image (or its path) -> uint8 [size, size, 3]; square resize, as Show-Attend-Tell does."""
    data = tf.io.read_file(image) if is_path else image
    pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
    pixels.set_shape([None, None, 3])
    resized = tf.image.resize(pixels, [size, size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def normalize_images(images: tf.Tensor, mode: str) -> tf.Tensor:
    """uint8 images -> float32: "imagenet" (mean/std, for CNN encoders), "unit" [0, 1], "tanh" [-1, 1] (GAN)."""
    return normalize_unit_images(tf.cast(images, tf.float32) / 255.0, mode)


def normalize_unit_images(x: tf.Tensor, mode: str) -> tf.Tensor:
    """Float images in [0, 1] -> the `normalize_images` modes; differentiable, so stage 4 can
    feed generated images to the captioner."""
    if mode == "imagenet":
        return (x - _IMAGENET_MEAN) / _IMAGENET_STD
    if mode == "tanh":
        return x * 2.0 - 1.0
    if mode == "unit":
        return x
    raise ValueError(f"unknown image normalisation {mode!r}")


def frame_tokens(caption_tokens: Sequence[Sequence[int]], tok: tokenizer_lib.CaptionTokenizer,
                 max_tokens: int) -> tf.RaggedTensor:
    """[start] + tokens + [end] per caption, cut to `max_tokens` with the end token kept."""
    return frame(caption_tokens, tok.start_id, tok.end_id, max_tokens)


def frame(rows: Sequence[Sequence[int]], start: int, end: int, max_tokens: int) -> tf.RaggedTensor:
    """[start] + row + [end] per row, cut to `max_tokens` with `end` kept: how captions are
    framed, for anything aligned with their tokens."""
    framed = [[start] + list(row[:max_tokens - 2]) + [end] for row in rows]
    lengths = np.array([len(ids) for ids in framed], dtype=np.int64)
    flat = np.array([i for ids in framed for i in ids], dtype=np.int32)
    return tf.RaggedTensor.from_row_lengths(flat, lengths)


class ImageLoader:
    """Gives a split's images at one size: gathered from a decoded table, or decoded per element."""

    def __init__(self, split: corpus.Split, size: int, cache_max_mb: float):
        self.size = size
        self._is_path = split.images_are_paths
        self._encoded = tf.constant(split.images, dtype=tf.string)
        self.cached = split.num_images * size * size * 3 <= cache_max_mb * 2**20
        if self.cached:
            self._table = self._decode_all()

    def _decode_all(self) -> tf.Tensor:
        decoded = (tf.data.Dataset.from_tensor_slices(self._encoded)
                   .map(lambda x: decode_and_resize(x, self._is_path, self.size),
                        num_parallel_calls=AUTOTUNE)
                   .batch(256))
        return tf.constant(np.concatenate([batch.numpy() for batch in decoded]))

    def add_to_element(self, element: dict) -> dict:
        """Per element: decodes the image unless batches will gather it from the table."""
        if not self.cached:
            element["image"] = decode_and_resize(
                self._encoded[element["image_index"]], self._is_path, self.size)
        return element

    def add_to_batch(self, batch: dict, normalization: str) -> dict:
        """Per batch: gathers cached images, then normalises."""
        images = tf.gather(self._table, batch["image_index"]) if self.cached else batch["image"]
        batch["image"] = normalize_images(images, normalization)
        return batch


def _caption_indices(num_captions: int, training: bool, seed: int) -> tf.data.Dataset:
    indices = tf.data.Dataset.range(num_captions).map(lambda i: tf.cast(i, tf.int32))
    if training:
        indices = indices.shuffle(num_captions, seed=seed, reshuffle_each_iteration=True)
    return indices


def _bucket(dataset: tf.data.Dataset, boundaries: Sequence[int], batch_size: int,
            pad_id: int, drop_remainder: bool) -> tf.data.Dataset:
    """Batches captions of similar length together, padded up to the bucket's boundary."""
    return dataset.bucket_by_sequence_length(
        element_length_func=lambda e: tf.shape(e["token_ids"])[0],
        bucket_boundaries=list(boundaries),
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values={**{k: None for k in dataset.element_spec}, "token_ids": pad_id},
        pad_to_bucket_boundary=False,
        drop_remainder=drop_remainder)


def lm_dataset(split: corpus.Split, tokens: tf.RaggedTensor, pad_id: int, batch_size: int,
               bucket_boundaries: Sequence[int], training: bool, seed: int) -> tf.data.Dataset:
    """Caption LM batches: token_ids, padding_mask [B, T] and caption_index [B] (selects a_i)."""
    def element(i):
        ids = tokens[i]
        return {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool), "caption_index": i}

    dataset = _caption_indices(len(split.flat_captions), training, seed).map(
        element, num_parallel_calls=AUTOTUNE)
    return _bucket(dataset, bucket_boundaries, batch_size, pad_id, training).prefetch(AUTOTUNE)


def captioner_dataset(split: corpus.Split, tokens: tf.RaggedTensor, images: ImageLoader,
                      pad_id: int, batch_size: int, bucket_boundaries: Sequence[int],
                      normalization: str, training: bool, seed: int,
                      grounding: Optional[tuple] = None) -> tf.data.Dataset:
    """Captioner batches of (image, caption) pairs: image, token_ids (start..end, padded),
    padding_mask, caption_index, image_index. One element per caption, as in Show-Attend-Tell.
    With `grounding` (caption_shapes `grounding.split_grounding`: token objects and token related
    objects framed like `tokens`, object masks per image) also token_object and token_related
    [B, T] (k + 1 where a token grounds in object k, else 0) and object_masks [B, objects, P], for
    supervised attention."""
    image_of_caption = tf.constant(split.caption_image_index)
    token_objects, token_related, masks = grounding if grounding else (None, None, None)

    def element(i):
        ids = tokens[i]
        values = {"token_ids": ids, "padding_mask": tf.ones_like(ids, tf.bool), "caption_index": i,
                  "image_index": image_of_caption[i]}
        if grounding:
            values["token_object"] = token_objects[i]
            values["token_related"] = token_related[i]
        return images.add_to_element(values)

    def finish(batch):
        if grounding:
            batch["object_masks"] = tf.gather(masks, batch["image_index"])
        return images.add_to_batch(batch, normalization)

    dataset = _caption_indices(len(split.flat_captions), training, seed).map(
        element, num_parallel_calls=AUTOTUNE)
    dataset = _bucket(dataset, bucket_boundaries, batch_size, pad_id, training)
    return dataset.map(finish, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def matching_dataset(split: corpus.Split, tokens: tf.RaggedTensor, images: ImageLoader,
                     pad_id: int, max_tokens: int, batch_size: int, normalization: str,
                     training: bool, seed: int) -> tf.data.Dataset:
    """Sentence-encoder and GAN batches: image, its caption, and a mismatched caption (of another
    image, drawn per element and per epoch), all captions padded to `max_tokens`."""
    if split.num_images < 2:
        raise ValueError(f"split {split.name!r} needs at least 2 images for mismatched captions")
    image_of_caption = tf.constant(split.caption_image_index)
    row_starts = tf.constant(split.caption_row_starts)
    counts = tf.constant([len(caps) for caps in split.captions], dtype=tf.int32)
    num_images = split.num_images

    def padded(ids):
        ids = ids[:max_tokens]
        pad = max_tokens - tf.shape(ids)[0]
        return (tf.pad(ids, [[0, pad]], constant_values=pad_id),
                tf.pad(tf.ones_like(ids, tf.bool), [[0, pad]]))

    def element(counter, i):
        u = tf.random.stateless_uniform([2], seed=tf.stack([tf.cast(seed, tf.int64), counter]))
        image = image_of_caption[i]
        other = (image + 1 + tf.cast(u[0] * (num_images - 1), tf.int32)) % num_images
        wrong = row_starts[other] + tf.cast(u[1] * tf.cast(counts[other], tf.float32), tf.int32)
        ids, mask = padded(tokens[i])
        wrong_ids, wrong_mask = padded(tokens[wrong])
        return images.add_to_element({
            "token_ids": ids, "padding_mask": mask, "wrong_token_ids": wrong_ids,
            "wrong_padding_mask": wrong_mask, "caption_index": i, "image_index": image})

    dataset = (_caption_indices(len(split.flat_captions), training, seed).enumerate()
               .map(element, num_parallel_calls=AUTOTUNE)
               .batch(batch_size, drop_remainder=training, num_parallel_calls=AUTOTUNE))
    return dataset.map(lambda b: images.add_to_batch(b, normalization),
                       num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def eval_dataset(split: corpus.Split, images: ImageLoader, batch_size: int,
                 normalization: str) -> tf.data.Dataset:
    """Evaluation batches, one element per image: image, image_id, references (all captions,
    padded with "")."""
    references = tf.ragged.constant(split.captions, dtype=tf.string).to_tensor("")
    dataset = tf.data.Dataset.from_tensor_slices({
        "image_index": tf.range(split.num_images, dtype=tf.int32),
        "image_id": tf.constant(split.image_ids, tf.int64),
        "references": references})
    dataset = dataset.map(images.add_to_element, num_parallel_calls=AUTOTUNE).batch(batch_size)
    return dataset.map(lambda b: images.add_to_batch(b, normalization),
                       num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


class Datasets:
    """Every consumer's pipeline over a prepared dataset's splits, at the config's sizes: the
    captioner, matching (sentence encoder, GAN), LM and evaluation batches. Framed tokens and
    image loaders are made once per split (and image size) and shared by the pipelines that
    read them. Splits are given by name or as a `corpus.Split` (e.g. a filtered one)."""

    def __init__(self, config, splits: dict, tokenizer: tokenizer_lib.CaptionTokenizer):
        self.config = config
        self.splits = splits
        self.tokenizer = tokenizer
        self._tokens = {}
        self._images = {}

    def split(self, split) -> corpus.Split:
        return self.splits[split] if isinstance(split, str) else split

    def tokens(self, split) -> tf.RaggedTensor:
        """The split's captions framed with start/end tokens at `data.max_caption_tokens`."""
        split = self.split(split)
        if id(split) not in self._tokens:
            self._tokens[id(split)] = (split, frame_tokens(
                split.caption_tokens, self.tokenizer, self.config.data.max_caption_tokens))
        return self._tokens[id(split)][1]

    def images(self, split, size: int) -> ImageLoader:
        split = self.split(split)
        key = (id(split), size)
        if key not in self._images:
            self._images[key] = (split, ImageLoader(split, size, self.config.data.cache_max_mb))
        return self._images[key][1]

    def _batch_size(self, training: bool) -> int:
        pipeline = self.config.pipeline
        return pipeline.batch_size if training else pipeline.eval_batch_size

    def lm(self, split, training: bool, seed: int = 0) -> tf.data.Dataset:
        """`lm_dataset` batches (training: shuffled by `seed`, at the training batch size)."""
        split = self.split(split)
        return lm_dataset(split, self.tokens(split), self.tokenizer.pad_id,
                          self._batch_size(training), self.config.pipeline.bucket_boundaries,
                          training, seed)

    def captioner(self, split, training: bool, seed: int,
                  grounding: Optional[tuple] = None) -> tf.data.Dataset:
        """`captioner_dataset` batches at the captioner's image size and normalisation."""
        split, pipeline = self.split(split), self.config.pipeline
        return captioner_dataset(
            split, self.tokens(split), self.images(split, pipeline.captioner_image_size),
            self.tokenizer.pad_id, self._batch_size(training), pipeline.bucket_boundaries,
            pipeline.captioner_normalization, training=training, seed=seed, grounding=grounding)

    def matching(self, split, image_size: int, normalization: str, batch_size: int,
                 training: bool, seed: int) -> tf.data.Dataset:
        """`matching_dataset` batches (image, caption, mismatched caption)."""
        split = self.split(split)
        return matching_dataset(split, self.tokens(split), self.images(split, image_size),
                                self.tokenizer.pad_id, self.config.data.max_caption_tokens,
                                batch_size, normalization, training=training, seed=seed)

    def eval(self, split, image_size: Optional[int] = None, normalization: Optional[str] = None,
             batch_size: Optional[int] = None) -> tf.data.Dataset:
        """`eval_dataset` batches, one per image; by default the captioner's size and
        normalisation at the evaluation batch size."""
        split, pipeline = self.split(split), self.config.pipeline
        return eval_dataset(split, self.images(split, image_size or pipeline.captioner_image_size),
                            batch_size or pipeline.eval_batch_size,
                            normalization or pipeline.captioner_normalization)
