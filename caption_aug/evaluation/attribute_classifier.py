"""Two small CNNs that read caption_shapes images: the colour and shape of the object of a
single-object image, and which (colour, shape) objects any image shows.

`colour` and `shape` (softmax) are trained on the single-object train images only: there the
caption's object and the image's object are the same one, so "the classified attributes match the
caption" has one meaning and a chance level. `objects` (56 sigmoids, one per (colour, shape)
pair) is trained on every train image and reads multi-object scenes. Trained with the
ground-truth metadata on real train images; their accuracy on real test images is the ceiling of
the GAN's conditional accuracy (`gan_eval`).
"""

import dataclasses
import hashlib
import json
import os
from typing import Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from keras import layers

from caption_aug import compiled
from caption_aug import distribute
from caption_aug import guard as guard_lib
from caption_aug import progress
from caption_aug.data import corpus
from caption_aug.data import pipelines
from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.models.captioner import encoder as encoder_lib

ATTRIBUTES = {"colour": vocab.COLOURS, "shape": vocab.SHAPES}
OBJECTS = "objects"          # the multi-label head: (colour, shape) pairs present
NUM_PAIRS = len(vocab.COLOURS) * len(vocab.SHAPES)
READABLE = 0.95              # a ceiling below this: the attribute is not readable at this size


def pair_index(colour: str, shape: str) -> int:
    """Column of (colour, shape) in the `objects` head."""
    return vocab.COLOURS.index(colour) * len(vocab.SHAPES) + vocab.SHAPES.index(shape)


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
    """Ground truth of each image: class indices per attribute of its first object (meaningful for
    single-object images) and the multi-hot `objects` [N, NUM_PAIRS] of all its objects."""
    labels = {name: np.array([values.index(meta["objects"][0][name]) for meta in split.metadata],
                             np.int32)
              for name, values in ATTRIBUTES.items()}
    labels[OBJECTS] = np.zeros((len(split.metadata), NUM_PAIRS), np.float32)
    for row, meta in enumerate(split.metadata):
        for obj in meta["objects"]:
            labels[OBJECTS][row, pair_index(obj["colour"], obj["shape"])] = 1.0
    return labels


def build_classifiers(image_size: int, filters: Sequence[int], convs_per_block: int, stem: int
                      ) -> Tuple[keras.Model, keras.Model, keras.Model]:
    """Two classifiers on one trunk, for images in [-1, 1], and the two as one model (image ->
    {"colour", "shape", "objects"} logits, the trunk run once) for saving and scoring. The trunk
    is the captioner's `small_cnn` after a stride-1 stem of width `stem` (a plain ReLU stack read
    shape at 0.89-0.96 on real 64x64 test images, this one at 0.97-0.99; without the stem it
    confused small hexagons with small circles):
    - `attributes`, single-object image -> {"colour": [B, 8], "shape": [B, 7]} logits, from the
      globally max-pooled features (the object anywhere);
    - `objects`, any image -> {"objects": [B, 56]} logits, scored per location then max-pooled,
      so that a pair is found where one object shows both its colour and its shape, not where
      two objects show one each. It is trained after `attributes`, with the trunk frozen (a trunk
      of its own, trained on the pairs alone, learned nothing in 1,600 steps; one shared and
      trained on both tasks lost about 0.1 of shape accuracy at 64x64)."""
    trunk = encoder_lib.small_cnn(image_size, filters, stem, convs_per_block)
    image = keras.Input((image_size, image_size, 3), name="image")
    features = trunk(image)
    attribute_logits = attribute_heads(layers.GlobalMaxPooling2D()(features))
    object_logits = {OBJECTS: layers.GlobalMaxPooling2D(name=OBJECTS)(pair_logits(features))}
    return (keras.Model(image, attribute_logits, name="attributes"),
            keras.Model(image, object_logits, name="objects"),
            keras.Model(image, {**attribute_logits, **object_logits},
                        name="attribute_classifier"))


def attribute_heads(pooled) -> dict:
    """Pooled features [B, F] -> {"colour": logits [B, 8], "shape": logits [B, 7]}."""
    x = layers.Dense(64, activation="relu")(pooled)
    return {name: layers.Dense(len(values), name=name)(x) for name, values in ATTRIBUTES.items()}


def pair_logits(features):
    """Per-location (colour, shape)-pair logits [..., NUM_PAIRS] of features [..., F] (a dense
    layer is a 1x1 conv on a grid), the bias at the prior (about 2 of 56 pairs present) so that
    steps go to telling pairs apart."""
    hidden = layers.Dense(64, activation="relu", name="objects_hidden")(features)
    prior = keras.initializers.Constant(float(np.log(2.0 / (NUM_PAIRS - 2))))
    return layers.Dense(NUM_PAIRS, bias_initializer=prior, name="objects_per_location")(hidden)


@dataclasses.dataclass
class ClassifierResult:
    model: keras.Model
    real_accuracy: dict      # per attribute, on real single-object test images


def load_images(split: corpus.Split, image_size: int, cache_max_mb: float,
                normalization: str = "tanh") -> np.ndarray:
    """All images of a split, resized and normalised (default: [-1, 1], the generator's range)."""
    loader = pipelines.ImageLoader(split, image_size, cache_max_mb)
    batches = pipelines.eval_dataset(split, loader, 256, normalization)
    return np.concatenate([b["image"].numpy() for b in batches])


def predict(model: keras.Model, images, batch_size: int = 256) -> dict:
    """Predicted class index per attribute, and `objects`: the rank [N, NUM_PAIRS] of each pair
    among the image's pair logits (0: the likeliest pair). Ranks, not a threshold: with 1-3
    positives among 56 the logits are rarely calibrated to cross 0. (Only the heads the model
    has.) Batch by batch through one compiled call, which runs under any strategy (Keras'
    `predict` fails under MultiWorkerMirroredStrategy: keras-team/keras#20585)."""
    call = compiled.function(lambda batch: model(batch, training=False))
    batches = [call(images[start:start + batch_size])
               for start in range(0, len(images), batch_size)]
    outputs = {name: np.concatenate([batch[name].numpy() for batch in batches])
               for name in batches[0]}
    predicted = {name: np.argmax(outputs[name], axis=-1) for name in ATTRIBUTES if name in outputs}
    if OBJECTS in outputs:
        predicted[OBJECTS] = np.argsort(np.argsort(-outputs[OBJECTS], axis=-1), axis=-1)
    return predicted


def accuracy(predicted: dict, labels: dict) -> dict:
    return {name: float(np.mean(predicted[name] == labels[name])) for name in ATTRIBUTES}


def objects_found(predicted: dict, objects: np.ndarray) -> float:
    """The share of present pairs (multi-hot `objects` [N, NUM_PAIRS]) that rank among their
    image's n likeliest, n its number of present pairs."""
    present = objects > 0
    within = predicted[OBJECTS] < present.sum(axis=1, keepdims=True)
    return float(within[present].mean())


def cache_directory(root: str, image_size: int, settings, seed: int) -> str:
    """Where a classifier of these settings (`config.attribute_classifier`'s keys) is cached
    under `root`: a changed setting trains a new one."""
    settings = json.dumps(dict(size=image_size, steps=settings["steps"],
                               filters=list(settings["filters"]),
                               convs_per_block=settings["convs_per_block"],
                               stem=settings["stem"], seed=seed,
                               version=7))  # 7: the captioner's small_cnn, trunk run once
    digest = hashlib.sha256(settings.encode()).hexdigest()[:8]
    return os.path.join(root, f"size{image_size}_{digest}")


def train_or_load(train: corpus.Split, test: corpus.Split, image_size: int, root: str, settings,
                  cache_max_mb: float, seed: int, max_consecutive_skips: int) -> ClassifierResult:
    """Trains the classifiers on the real train images with `settings` (`steps`, `batch_size`,
    `learning_rate`, `filters`, `convs_per_block`, `stem`: `config.attribute_classifier`), or
    reloads their weights from `cache_directory(root, ...)/classifier.weights.h5` (the
    architecture is this module's), and measures colour and shape on the real single-object test
    images. On one device under any strategy: an evaluation tool, whose weights and scores (and
    cache) are the same for every run whatever its strategy."""
    return distribute.on_one_device(_train_or_load, train, test, image_size, root, settings,
                                    cache_max_mb, seed, max_consecutive_skips)


def _train_or_load(train: corpus.Split, test: corpus.Split, image_size: int, root: str, settings,
                   cache_max_mb: float, seed: int, max_consecutive_skips: int) -> ClassifierResult:
    directory = cache_directory(root, image_size, settings, seed)
    path = os.path.join(directory, "classifier.weights.h5")
    steps, batch_size = settings["steps"], settings["batch_size"]
    learning_rate = settings["learning_rate"]
    keras.utils.set_random_seed(seed)
    attributes, objects, model = build_classifiers(image_size, settings["filters"],
                                                   settings["convs_per_block"], settings["stem"])
    if os.path.exists(path):
        model.load_weights(path)
        logging.info("attribute classifier reloaded from %s", path)
    else:
        images = load_images(train, image_size, cache_max_mb)
        labels = attribute_labels(train)
        single = np.array([len(meta["objects"]) == 1 for meta in train.metadata])
        logging.info("training the attribute classifier on %d real single-object images and the "
                     "object head on all %d, %d steps each", int(single.sum()), len(images), steps)

        def guard(name):
            return guard_lib.NonFiniteGuard(name, max_consecutive_skips,
                                            "attribute_classifier.learning_rate")

        fit(attributes, images[single], {name: labels[name][single] for name in ATTRIBUTES},
            keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None), steps,
            batch_size, learning_rate, seed, guard("attribute_classifier"),
            "attribute classifier: colour/shape steps")
        attributes.trainable = False
        fit(objects, images, {OBJECTS: labels[OBJECTS]},
            keras.losses.BinaryCrossentropy(from_logits=True, reduction=None), steps, batch_size,
            learning_rate, seed, guard("attribute_classifier_objects"),
            "attribute classifier: object-head steps")
        os.makedirs(directory, exist_ok=True)
        model.save_weights(path)
    test = split_with_max_objects(test, 1)
    real = accuracy(predict(model, load_images(test, image_size, cache_max_mb)),
                    attribute_labels(test))
    logging.info("attribute classifier on real test images: %s", real)
    return ClassifierResult(model, real)


class ClassifierStep:
    """The supervised step of an image network under named heads: Adam on the sum of the heads'
    losses, each its mean over the global batch, through the non-finite guard like every stage's
    step, under any strategy (each replica its share of the batch, batch norm over the global
    batch: `distribute`). Hand-written rather than Keras' `fit`, which fails under
    MultiWorkerMirroredStrategy (keras-team/keras#20585)."""

    def __init__(self, model: keras.Model, loss, learning_rate: float,
                 guard: guard_lib.NonFiniteGuard):
        self.model, self.loss, self.guard = model, loss, guard
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.optimizer.build(model.trainable_variables)
        self.train_step = compiled.function(self.update)

    def update(self, batch) -> dict:
        """One guarded step on `batch`, (images, labels by head name), `loss` (per example, no
        reduction) for every head; returns whether it was applied and the loss."""
        variables = self.model.trainable_variables

        def loss_fn(images, labels):
            outputs = self.model(images, training=True)
            loss = tf.add_n([distribute.global_mean(self.loss(labels[name], outputs[name]))
                             for name in labels])
            return loss, {"loss": loss}

        applied, figures = self.guard.update(
            loss_fn, batch, variables, self.model.non_trainable_variables,
            lambda gradients: self.optimizer.apply(gradients, variables))
        return {"applied": applied, **figures}


def fit(model: keras.Model, images: np.ndarray, labels: dict, loss, steps: int, batch_size: int,
        learning_rate: float, seed: int, guard: guard_lib.NonFiniteGuard,
        progress_name: str) -> None:
    """`steps` of `ClassifierStep` on shuffled, randomly flipped batches of (images, labels),
    each split across the current strategy's replicas, with a progress line called
    `progress_name`; stops (`NonFiniteError`) after the guard's limit of skipped steps in a row."""
    step = ClassifierStep(model, loss, learning_rate, guard)
    dataset = (tf.data.Dataset.from_tensor_slices((images, labels))
               .shuffle(len(images), seed=seed).repeat().batch(batch_size)
               .map(lambda x, y: (_jitter(x), y)).take(steps).prefetch(2))
    meter = progress.Progress(progress_name, steps)
    for done, batch in enumerate(distribute.distribute_batches(dataset), 1):
        step.train_step(batch)
        guard.check()
        meter.update(done)


def _jitter(images: tf.Tensor) -> tf.Tensor:
    """Random flips: colour and shape classes are invariant to them (every shape is symmetric
    about some axis, and the classes do not depend on orientation)."""
    return tf.image.random_flip_up_down(tf.image.random_flip_left_right(images))
