"""The classifier step behind the encoders' pretraining and the attribute classifier
(`attribute_classifier.ClassifierStep` and `fit`): its loss is Keras' mean loss summed over the
heads, a non-finite step is skipped without touching weights or batch-norm statistics, and `fit`
stops after the guard's limit of skips in a row. (Mirrored vs one device: test_distribute.py.)"""

import keras
import numpy as np
import pytest

from caption_aug import guard as guard_lib
from caption_aug.evaluation import attribute_classifier

SIZE, BATCH = 16, 6
PER_EXAMPLE = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)


def _classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    return attribute_classifier.build_classifiers(SIZE, (4, 8), 1, 0)[0]


def _batch(seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype("float32"),
            {name: rng.integers(0, len(values), BATCH).astype("int32")
             for name, values in attribute_classifier.ATTRIBUTES.items()})


def _step(model, max_consecutive: int = 5) -> attribute_classifier.ClassifierStep:
    return attribute_classifier.ClassifierStep(
        model, PER_EXAMPLE, 1e-2, guard_lib.NonFiniteGuard("toy", max_consecutive, "toy.rate"))


def test_the_loss_is_keras_mean_loss_summed_over_the_heads_and_the_step_is_applied():
    model = _classifier()
    images, labels = _batch()
    outputs = model(images, training=True)
    mean_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = sum(float(mean_loss(labels[name], outputs[name])) for name in labels)
    before = [v.numpy() for v in model.trainable_variables]
    figures = _step(model).train_step((images, labels))
    assert bool(figures["applied"])
    assert float(figures["loss"]) == pytest.approx(expected, rel=1e-6)
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(before, model.trainable_variables))


def test_a_non_finite_step_is_skipped_and_counted_leaving_weights_and_statistics_alone():
    model = _classifier()
    step = _step(model)
    step.train_step(_batch(0))
    before = [v.numpy() for v in model.variables]
    images, labels = _batch(1)
    images[0, 0, 0, 0] = np.nan
    figures = step.train_step((images, labels))
    assert not bool(figures["applied"]) and step.guard.skipped_steps == 1
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))


def test_fit_stops_in_one_line_after_the_guards_limit_of_skips_in_a_row():
    images, labels = _batch()
    images[:] = np.nan
    with pytest.raises(guard_lib.NonFiniteError, match="stage toy: 2 training steps in a row.*toy.rate"):
        attribute_classifier.fit(_classifier(), images, labels, PER_EXAMPLE, 5, 3, 1e-2, 0,
                                 guard_lib.NonFiniteGuard("toy", 2, "toy.rate"), "toy steps")
