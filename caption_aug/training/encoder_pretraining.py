"""Pretrains an image network as a colour and shape classifier of single-object caption_shapes
images: the CPU default's stand-in for the paper's ImageNet weights, for the captioner's encoder
and (`encoder.image_pretrain_steps`) the sentence encoder's image side.

Trained from scratch on captions alone, a small CNN learns colours but stays near chance for
shapes (the captioner then names every object "star" or "square"; the sentence encoder's shape
probe read 0.30 at 64x64); a short supervised start gives it shape features that the captions'
objective then learns to read. The classifier is the network's pooled features under
`attribute_classifier.attribute_heads`, optionally then (captioner) a per-location pair detector
on multi-object scenes; the heads are thrown away afterwards.
"""

import time

import keras
from absl import logging
from keras import layers

from caption_aug import guard as guard_lib
from caption_aug.evaluation import attribute_classifier as classifier_lib


class SplitImages:
    """The images and attribute labels of a split at one size and normalisation: all of them or
    (`single_object`) those showing one object."""

    def __init__(self, prepared, image_size: int, normalization: str, cache_max_mb: float):
        self.prepared, self.image_size = prepared, image_size
        self.normalization, self.cache_max_mb = normalization, cache_max_mb

    def __call__(self, split_name: str, single_object: bool):
        split = self.prepared.splits[split_name]
        if single_object:
            split = classifier_lib.split_with_max_objects(split, 1)
        images = classifier_lib.load_images(split, self.image_size, self.cache_max_mb,
                                            self.normalization)
        return images, classifier_lib.attribute_labels(split)


def pretrain_attributes(image_input, pooled, split_images: SplitImages, steps: int,
                        batch_size: int, learning_rate: float, seed: int,
                        guard: guard_lib.NonFiniteGuard, name: str) -> dict:
    """Trains the network from `image_input` to `pooled` features [B, F] in place, `steps` Adam
    steps under colour and shape heads on the single-object train images (under the current
    strategy, through `guard`); returns its steps, seconds and colour/shape accuracy on the
    single-object validation images."""
    model = keras.Model(image_input, classifier_lib.attribute_heads(pooled), name="attributes")
    images, labels = split_images("train", True)
    logging.info("pretraining %s as a colour/shape classifier: %d steps on %d single-object "
                 "train images", name, steps, len(images))
    start = time.perf_counter()
    classifier_lib.fit(model, images, {key: labels[key] for key in classifier_lib.ATTRIBUTES},
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None),
                       steps, batch_size, learning_rate, seed, guard, f"{name} pretraining steps")
    images, labels = split_images("validation", True)
    accuracy = classifier_lib.accuracy(classifier_lib.predict(model, images), labels)
    return {"steps": steps, "seconds": time.perf_counter() - start,
            "validation_accuracy": accuracy}


def pretrain(encoder: keras.Model, prepared, config) -> dict:
    """Trains the captioner's `encoder` (image -> pixels [B, P, F]) in place for
    `captioner.pretrain_steps` on the single-object train images (its pixels max-pooled: the
    object anywhere), then (`captioner.pretrain_object_steps` > 0) as a per-location
    (colour, shape)-pair detector on all train images; returns its steps, seconds and accuracy on
    the validation images (colour/shape on single-object ones, `objects` on all)."""
    cfg, pipeline = config.captioner, config.pipeline
    image_input = keras.Input(encoder.input_shape[1:])
    pixels = encoder(image_input)
    split_images = SplitImages(prepared, pipeline.captioner_image_size,
                               pipeline.captioner_normalization, config.data.cache_max_mb)
    start = time.perf_counter()
    result = pretrain_attributes(image_input, layers.GlobalMaxPooling1D()(pixels), split_images,
                                 cfg.pretrain_steps, cfg.pretrain_batch_size,
                                 cfg.pretrain_learning_rate, config.seed,
                                 _guard("captioner_encoder_pretraining", config),
                                 "captioner encoder")
    result["object_steps"] = cfg.pretrain_object_steps
    if cfg.pretrain_object_steps:
        result["validation_accuracy"][classifier_lib.OBJECTS] = _pretrain_objects(
            image_input, pixels, split_images, config)
    result["seconds"] = time.perf_counter() - start
    logging.info("pretrained captioner encoder on validation images: %s (%.0f s)",
                 result["validation_accuracy"], result["seconds"])
    return result


def _pretrain_objects(image_input, pixels, split_images: SplitImages, config) -> float:
    """Trains the encoder under per-location pair logits (`attribute_classifier.pair_logits`),
    max-pooled over locations, on all train images: a pair is then found where one object shows
    both its colour and its shape, the binding the decoder's attention has to read. Returns the
    share of the validation images' objects among each image's n likeliest pairs (n objects)."""
    cfg = config.captioner
    model = keras.Model(image_input, {classifier_lib.OBJECTS: layers.GlobalMaxPooling1D(
        name=classifier_lib.OBJECTS)(classifier_lib.pair_logits(pixels))})
    images, labels = split_images("train", False)
    logging.info("pretraining the captioner's encoder as a (colour, shape)-pair detector: %d steps "
                 "on all %d train images", cfg.pretrain_object_steps, len(images))
    classifier_lib.fit(model, images, {classifier_lib.OBJECTS: labels[classifier_lib.OBJECTS]},
                       keras.losses.BinaryCrossentropy(from_logits=True, reduction=None),
                       cfg.pretrain_object_steps, cfg.pretrain_batch_size,
                       cfg.pretrain_learning_rate, config.seed,
                       _guard("captioner_encoder_pretraining_objects", config),
                       "captioner encoder pretraining steps (objects)")
    images, labels = split_images("validation", False)
    return classifier_lib.objects_found(classifier_lib.predict(model, images),
                                        labels[classifier_lib.OBJECTS])


def _guard(name: str, config) -> guard_lib.NonFiniteGuard:
    return guard_lib.NonFiniteGuard(name, config.max_consecutive_skips,
                                    "captioner.pretrain_learning_rate")
