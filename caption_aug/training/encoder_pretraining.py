"""Pretrains the captioner's image encoder as a colour and shape classifier of single-object
caption_shapes images: the CPU default's stand-in for the paper's ImageNet weights.

Trained from scratch on captions alone, the small CNN learns colours but stays near chance for
shapes (the decoder then names every object "star" or "square"); a short supervised start gives
it shape features that the decoder learns to read. The classifier is the encoder's pixels
max-pooled (the object anywhere) under `attribute_classifier.attribute_heads`; the heads are
thrown away afterwards.
"""

import time

import keras
from absl import logging
from keras import layers

from caption_aug.evaluation import attribute_classifier as classifier_lib


def pretrain(encoder: keras.Model, prepared, config) -> dict:
    """Trains `encoder` (image -> pixels [B, P, F]) in place for `captioner.pretrain_steps` on the
    single-object train images; returns its steps, seconds and colour/shape accuracy on the
    single-object validation images."""
    cfg, pipeline = config.captioner, config.pipeline
    image_input = keras.Input(encoder.input_shape[1:])
    heads = classifier_lib.attribute_heads(layers.GlobalMaxPooling1D()(encoder(image_input)))
    model = keras.Model(image_input, heads, name="encoder_pretraining")

    def single_objects(split_name):
        split = classifier_lib.split_with_max_objects(prepared.splits[split_name], 1)
        images = classifier_lib.load_images(split, pipeline.captioner_image_size,
                                            config.data.cache_max_mb,
                                            pipeline.captioner_normalization)
        return images, classifier_lib.attribute_labels(split)

    images, labels = single_objects("train")
    logging.info("pretraining the captioner's encoder as a colour/shape classifier: %d steps on "
                 "%d single-object train images", cfg.pretrain_steps, len(images))
    start = time.perf_counter()
    classifier_lib.fit(model, images, {name: labels[name] for name in classifier_lib.ATTRIBUTES},
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       cfg.pretrain_steps, cfg.pretrain_batch_size, cfg.pretrain_learning_rate,
                       config.seed, "captioner encoder pretraining steps")
    seconds = time.perf_counter() - start
    images, labels = single_objects("validation")
    accuracy = classifier_lib.accuracy(classifier_lib.predict(model, images), labels)
    logging.info("pretrained encoder on single-object validation images: %s (%.0f s)",
                 accuracy, seconds)
    return {"steps": cfg.pretrain_steps, "seconds": seconds, "validation_accuracy": accuracy}
