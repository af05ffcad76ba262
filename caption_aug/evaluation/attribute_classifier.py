"""A small CNN that reads the colour and shape of the object in a single-object caption_shapes image.

Why single-object scenes: there the caption's object and the image's object are the same one, so
"the classified attributes match the caption" has one meaning (colour == stated colour, shape ==
stated shape) and a chance level (the most frequent stated value). The classifier is trained on
real single-object training images with the ground-truth metadata; its accuracy on real test
images is the ceiling for the GAN's conditional accuracy (`gan_eval`).
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from keras import layers

from caption_aug.data import corpus
from caption_aug.data import pipelines
from caption_aug.data.caption_shapes import vocabulary as vocab

ATTRIBUTES = {"colour": vocab.COLOURS, "shape": vocab.SHAPES}


def split_with_max_objects(split: corpus.Split, max_objects: int) -> corpus.Split:
    """The images of a caption_shapes split showing at most `max_objects` objects."""
    if split.metadata is None:
        raise ValueError(f"split {split.name!r} has no scene metadata (caption_shapes only)")
    keep = [k for k, meta in enumerate(split.metadata) if len(meta["objects"]) <= max_objects]
    if not keep:
        raise ValueError(f"split {split.name!r} has no image with at most {max_objects} objects")
    starts, captions = split.caption_row_starts, split.captions
    tokens = None
    if split.caption_tokens is not None:
        tokens = [split.caption_tokens[starts[k] + j] for k in keep for j in range(len(captions[k]))]
    return corpus.Split(name=split.name, image_ids=split.image_ids[keep],
                        images=[split.images[k] for k in keep],
                        captions=[captions[k] for k in keep],
                        metadata=[split.metadata[k] for k in keep], caption_tokens=tokens)


def attribute_labels(split: corpus.Split) -> dict:
    """Ground-truth class indices per attribute of each (single-object) image."""
    return {name: np.array([values.index(meta["objects"][0][name]) for meta in split.metadata],
                           np.int32)
            for name, values in ATTRIBUTES.items()}


def build_classifier(image_size: int, channels: int = 16) -> keras.Model:
    """Image in [-1, 1] -> {"colour": logits [B, 8], "shape": logits [B, 7]}."""
    image = keras.Input((image_size, image_size, 3), name="image")
    x = image
    for k in range(3):
        x = layers.Conv2D(channels * 2**k, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2D(channels * 2**k, 3, padding="same", activation="relu")(x)
    x = layers.GlobalMaxPooling2D()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = {name: layers.Dense(len(values), name=name)(x) for name, values in ATTRIBUTES.items()}
    return keras.Model(image, outputs, name="attribute_classifier")


@dataclasses.dataclass
class ClassifierResult:
    model: keras.Model
    real_accuracy: dict      # per attribute, on real single-object test images


def load_images(split: corpus.Split, image_size: int, cache_max_mb: float) -> np.ndarray:
    """All images of a split, resized, in [-1, 1] (the generator's range)."""
    loader = pipelines.ImageLoader(split, image_size, cache_max_mb)
    batches = pipelines.eval_dataset(split, loader, 256, "tanh")
    return np.concatenate([b["image"].numpy() for b in batches])


def predict(model: keras.Model, images, batch_size: int = 256) -> dict:
    """Predicted class index per attribute."""
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    return {name: np.argmax(outputs[name], axis=-1) for name in ATTRIBUTES}


def accuracy(predicted: dict, labels: dict) -> dict:
    return {name: float(np.mean(predicted[name] == labels[name])) for name in ATTRIBUTES}


def train_or_load(train: corpus.Split, test: corpus.Split, image_size: int, directory: str,
                  steps: int, batch_size: int, learning_rate: float, channels: int,
                  cache_max_mb: float, seed: int) -> ClassifierResult:
    """Trains the classifier on the real single-object train images (or reloads it from
    `directory/classifier.keras`) and measures it on the real single-object test images."""
    train, test = split_with_max_objects(train, 1), split_with_max_objects(test, 1)
    path = os.path.join(directory, "classifier.keras")
    if os.path.exists(path):
        model = keras.models.load_model(path)
        logging.info("attribute classifier reloaded from %s", path)
    else:
        keras.utils.set_random_seed(seed)
        model = build_classifier(image_size, channels)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss={name: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                            for name in ATTRIBUTES})
        images = load_images(train, image_size, cache_max_mb)
        logging.info("training the attribute classifier on %d real single-object images",
                     len(images))
        dataset = (tf.data.Dataset.from_tensor_slices((images, attribute_labels(train)))
                   .shuffle(len(images), seed=seed).repeat().batch(batch_size)
                   .map(lambda x, y: (_jitter(x), y)).prefetch(2))
        model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        os.makedirs(directory, exist_ok=True)
        model.save(path)
    real = accuracy(predict(model, load_images(test, image_size, cache_max_mb)),
                    attribute_labels(test))
    logging.info("attribute classifier on real test images: %s", real)
    return ClassifierResult(model, real)


def _jitter(images: tf.Tensor) -> tf.Tensor:
    """Random flips: colour and shape classes are invariant to them (every shape is symmetric
    about some axis, and the classes do not depend on orientation)."""
    return tf.image.random_flip_up_down(tf.image.random_flip_left_right(images))
