"""Pretrains the captioner's image encoder as a colour and shape classifier of single-object
caption_shapes images: the CPU default's stand-in for the paper's ImageNet weights.

Trained from scratch on captions alone, the small CNN learns colours but stays near chance for
shapes (the decoder then names every object "star" or "square"); a short supervised start gives
it shape features that the decoder learns to read. The classifier is the encoder's pixels
max-pooled (the object anywhere) under `attribute_classifier.attribute_heads`, optionally then a
per-location pair detector on multi-object scenes; the heads are thrown away afterwards.
"""

import time

import keras
from absl import logging
from keras import layers

from caption_aug.evaluation import attribute_classifier as classifier_lib


def pretrain(encoder: keras.Model, prepared, config) -> dict:
    """Trains `encoder` (image -> pixels [B, P, F]) in place for `captioner.pretrain_steps` on the
    single-object train images, then (`captioner.pretrain_object_steps` > 0) as a per-location
    (colour, shape)-pair detector on all train images; returns its steps, seconds and accuracy on
    the validation images (colour/shape on single-object ones, `objects` on all)."""
    cfg, pipeline = config.captioner, config.pipeline
    image_input = keras.Input(encoder.input_shape[1:])
    pixels = encoder(image_input)
    heads = classifier_lib.attribute_heads(layers.GlobalMaxPooling1D()(pixels))
    model = keras.Model(image_input, heads, name="encoder_pretraining")

    def split_images(split_name, single_object: bool):
        split = prepared.splits[split_name]
        if single_object:
            split = classifier_lib.split_with_max_objects(split, 1)
        images = classifier_lib.load_images(split, pipeline.captioner_image_size,
                                            config.data.cache_max_mb,
                                            pipeline.captioner_normalization)
        return images, classifier_lib.attribute_labels(split)

    images, labels = split_images("train", True)
    logging.info("pretraining the captioner's encoder as a colour/shape classifier: %d steps on "
                 "%d single-object train images", cfg.pretrain_steps, len(images))
    start = time.perf_counter()
    classifier_lib.fit(model, images, {name: labels[name] for name in classifier_lib.ATTRIBUTES},
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       cfg.pretrain_steps, cfg.pretrain_batch_size, cfg.pretrain_learning_rate,
                       config.seed, "captioner encoder pretraining steps")
    images, labels = split_images("validation", True)
    accuracy = classifier_lib.accuracy(classifier_lib.predict(model, images), labels)
    result = {"steps": cfg.pretrain_steps, "object_steps": cfg.pretrain_object_steps}
    if cfg.pretrain_object_steps:
        accuracy[classifier_lib.OBJECTS] = _pretrain_objects(image_input, pixels, split_images,
                                                             config)
    result.update(seconds=time.perf_counter() - start, validation_accuracy=accuracy)
    logging.info("pretrained encoder on validation images: %s (%.0f s)", accuracy,
                 result["seconds"])
    return result


def _pretrain_objects(image_input, pixels, split_images, config) -> float:
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
                       keras.losses.BinaryCrossentropy(from_logits=True),
                       cfg.pretrain_object_steps, cfg.pretrain_batch_size,
                       cfg.pretrain_learning_rate, config.seed,
                       "captioner encoder pretraining steps (objects)")
    images, labels = split_images("validation", False)
    return classifier_lib.objects_found(classifier_lib.predict(model, images),
                                        labels[classifier_lib.OBJECTS])
