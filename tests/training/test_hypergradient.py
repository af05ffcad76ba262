"""Hypergradients on a tiny four-model problem built from real Keras models called through
`stateless_call`: finite differences against exact nested tapes and against a brute-force
change of A or B, zero paths, dispatch, tf.function, float16 losses, and no weight mutation."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from caption_aug.training.joint import hypergradient

VOCABULARY = 8
NOISE = 4
IMAGE = 16          # generator output, read by the captioner as a 4x4x1 image
NUM_CAPTIONS = 20   # size of A
TAU = 0.5           # temperature of the soft synthetic captions
# Distinct values, so that a swapped or dropped rate shows.
RATES = hypergradient.Rates(captioner_lr=0.5, lm_lr=0.3, generator_lr=0.4, synthetic_weight=0.7)


class MixedOpDiscriminator(keras.Model):
    """A DARTS-style supernet: each edge mixes its candidate ops by softmax(B[edge])."""

    def __init__(self, width, edges=2, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Dense(width, activation="tanh")
        self.edge_ops = [[layers.Dense(width, activation="tanh"),
                          layers.Dense(width, activation="sigmoid")] for _ in range(edges)]
        self.head = layers.Dense(1)

    def call(self, inputs, arch_weights):
        hidden = self.stem(inputs)
        for edge, ops in enumerate(self.edge_ops):
            mix = tf.cast(tf.nn.softmax(arch_weights[edge]), hidden.dtype)
            candidates = [op(hidden) for op in ops] + [hidden]   # the last op is the identity
            hidden = tf.add_n([mix[k] * c for k, c in enumerate(candidates)])
        return self.head(hidden)


def _cross_entropy(logits, targets):
    """-sum(p log softmax(logits)): twice differentiable in p, unlike the fused TF op."""
    return -tf.reduce_sum(targets * tf.nn.log_softmax(logits), axis=-1)


@dataclasses.dataclass
class Toy:
    problem: hypergradient.Problem
    models: list
    W: list
    G: list
    E: list
    A: tf.Tensor
    B: tf.Tensor


def _values(model):
    return [tf.convert_to_tensor(v) for v in model.trainable_variables]


def _toy(seed):
    """LM G (embedding, per-caption weights sigmoid(A_i)), generator E, discriminator F with
    arch weights B, conv captioner W; synthetic pairs are soft LM captions and generator images."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    lm = keras.Sequential([keras.Input((2,), dtype="int32"), layers.Embedding(VOCABULARY, 8),
                           layers.Flatten(), layers.Dense(16, activation="tanh"),
                           layers.Dense(VOCABULARY)])
    generator = keras.Sequential([keras.Input((VOCABULARY + NOISE,)),
                                  layers.Dense(16, activation="tanh"),
                                  layers.Dense(IMAGE, activation="tanh")])
    captioner = keras.Sequential([keras.Input((IMAGE,)), layers.Reshape((4, 4, 1)),
                                  layers.Conv2D(4, 3, padding="same", activation="tanh"),
                                  layers.Flatten(), layers.Dense(VOCABULARY)])
    discriminator = MixedOpDiscriminator(12)
    B = tf.constant(rng.normal(size=(2, 3)), tf.float32)
    discriminator(tf.zeros((1, IMAGE + VOCABULARY)), arch_weights=B)

    def ints(high, shape):
        return tf.constant(rng.integers(0, high, size=shape), tf.int32)

    def floats(shape):
        return tf.constant(rng.normal(size=shape), tf.float32)

    lm_prompts, lm_targets = ints(VOCABULARY, (12, 2)), ints(VOCABULARY, (12,))
    caption_index = tf.constant(rng.choice(NUM_CAPTIONS, 12, replace=False), tf.int32)
    synthetic_prompts, synthetic_noise = ints(VOCABULARY, (6, 2)), floats((6, NOISE))
    gan_conditions = tf.one_hot(ints(VOCABULARY, (8,)), VOCABULARY)
    gan_noise = floats((8, NOISE))
    real_images, real_labels = floats((8, IMAGE)), tf.one_hot(ints(VOCABULARY, (8,)), VOCABULARY)
    val_images, val_labels = floats((8, IMAGE)), tf.one_hot(ints(VOCABULARY, (8,)), VOCABULARY)
    F = _values(discriminator)

    def call(model, weights, inputs, **kwargs):   # float32 outputs, also under mixed precision
        outputs = model.stateless_call(weights, model.non_trainable_variables, inputs, **kwargs)[0]
        return tf.cast(outputs, tf.float32)

    def images(E, conditions, noise):
        return call(generator, E, tf.concat([conditions, noise], axis=-1))

    def lm_loss(G, A):
        losses = _cross_entropy(call(lm, G, lm_prompts), tf.one_hot(lm_targets, VOCABULARY))
        return tf.reduce_mean(tf.sigmoid(tf.gather(A, caption_index)) * losses)

    def generator_loss(E, B):
        fake = tf.concat([images(E, gan_conditions, gan_noise), gan_conditions], axis=-1)
        return tf.reduce_mean(tf.nn.softplus(-call(discriminator, F, fake, arch_weights=B)))

    def synthetic_loss(W, G, E):
        captions = tf.nn.softmax(call(lm, G, synthetic_prompts) / TAU)
        synthetic_images = images(E, captions, synthetic_noise)
        return tf.reduce_mean(_cross_entropy(call(captioner, W, synthetic_images), captions))

    def real_loss(W):
        return tf.reduce_mean(_cross_entropy(call(captioner, W, real_images), real_labels))

    def validation_loss(W):
        return tf.reduce_mean(_cross_entropy(call(captioner, W, val_images), val_labels))

    problem = hypergradient.Problem(lm_loss, generator_loss, real_loss, synthetic_loss,
                                    validation_loss)
    A = tf.constant(rng.normal(scale=0.5, size=NUM_CAPTIONS), tf.float32)
    return Toy(problem, [lm, generator, captioner, discriminator], _values(captioner), _values(lm),
               _values(generator), A, B)


def _args(toy):
    return toy.problem, toy.W, toy.G, toy.E, toy.A, toy.B


def _cosine(x, y):
    x, y = np.ravel(x), np.ravel(y)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def _relative_error(estimate, reference):
    return float(np.linalg.norm(np.ravel(estimate) - np.ravel(reference))
                 / np.linalg.norm(reference))


def _unrolled_captioner_weights(toy, A, B, rates=RATES):
    """W'(A, B) by the virtual SGD step written out here, independent of the module."""
    problem = toy.problem
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(toy.G + toy.E)
        lm, gan = problem.lm_loss(toy.G, A), problem.generator_loss(toy.E, B)
    G1 = [g - rates.lm_lr * tf.convert_to_tensor(d)
          for g, d in zip(toy.G, tape.gradient(lm, toy.G))]
    E1 = [e - rates.generator_lr * d for e, d in zip(toy.E, tape.gradient(gan, toy.E))]
    with tf.GradientTape() as tape:
        tape.watch(toy.W)
        loss = (problem.real_loss(toy.W)
                + rates.synthetic_weight * problem.synthetic_loss(toy.W, G1, E1))
    return [w - rates.captioner_lr * d for w, d in zip(toy.W, tape.gradient(loss, toy.W))]


def _unrolled_validation_loss(toy, A, B):
    return float(toy.problem.validation_loss(_unrolled_captioner_weights(toy, A, B)))


@pytest.fixture(scope="module", params=[0, 1])
def toy_results(request):
    toy = _toy(request.param)
    return (toy, hypergradient.finite_difference(*_args(toy), RATES),
            hypergradient.exact(*_args(toy), RATES))


def test_finite_difference_matches_exact(toy_results):
    toy, estimate, reference = toy_results
    for name in ("a", "b"):
        got, want = getattr(estimate, name).numpy(), getattr(reference, name).numpy()
        assert got.shape == want.shape == tuple(getattr(toy, name.upper()).shape)
        assert np.linalg.norm(want) > 1e-4, name   # a real signal, not two zero vectors agreeing
        # The issue asks for cosine >= 0.99 and 5%; float32 reaches ~1e-4 here, and 1% catches
        # probes taken at the wrong point (G+- around G' instead of G is off by 2-3%).
        assert _cosine(got, want) >= 0.999, name
        assert _relative_error(got, want) <= 0.01, name
    assert isinstance(estimate.a, tf.Tensor) and isinstance(reference.a, tf.Tensor)
    np.testing.assert_allclose(estimate.stats["validation_loss"],
                               reference.stats["validation_loss"], rtol=1e-5)
    # A is read only for the captions of the LM batch.
    assert np.count_nonzero(estimate.a.numpy()) == 12


@pytest.mark.parametrize("name", ["a", "b"])
def test_hypergradient_predicts_validation_loss_change(toy_results, name):
    toy, estimate, _ = toy_results
    gradient = getattr(estimate, name)
    step = 0.2 * gradient / tf.norm(gradient)
    shifted = {"a": lambda s: (toy.A + s, toy.B), "b": lambda s: (toy.A, toy.B + s)}[name]
    change = (_unrolled_validation_loss(toy, *shifted(step))
              - _unrolled_validation_loss(toy, *shifted(-step)))
    predicted = 2 * float(tf.reduce_sum(gradient * step))
    assert change == pytest.approx(predicted, rel=0.03)   # measured: <= 0.4%


def test_first_order_differentiates_the_step_along_v_at_the_starting_weights(toy_results):
    toy, estimate, _ = toy_results
    result = hypergradient.first_order(*_args(toy), RATES)
    with tf.GradientTape() as tape:
        tape.watch(toy.W)
        validation_loss = toy.problem.validation_loss(toy.W)
    v = tape.gradient(validation_loss, toy.W)
    with tf.GradientTape() as tape:   # d/d(A, B) of <v(W), W'(A, B)>, v held fixed
        tape.watch([toy.A, toy.B])
        along_v = tf.add_n([tf.reduce_sum(d * w) for d, w in
                            zip(v, _unrolled_captioner_weights(toy, toy.A, toy.B))])
    want_a, want_b = tape.gradient(along_v, [toy.A, toy.B])
    np.testing.assert_allclose(result.stats["validation_loss"], validation_loss, rtol=1e-6)
    for got, want, full in ((result.a, want_a, estimate.a), (result.b, want_b, estimate.b)):
        want = tf.convert_to_tensor(want)
        assert _cosine(got, want) >= 0.999 and _relative_error(got, want) <= 0.01
        assert _relative_error(got, full) > 0.01   # not the second-order hypergradient


@pytest.mark.parametrize("method", hypergradient.METHODS)
def test_zero_synthetic_weight_gives_exactly_zero_hypergradients(method):
    toy = _toy(2)
    rates = dataclasses.replace(RATES, synthetic_weight=0.0)
    result = hypergradient.compute(method, *_args(toy), rates)
    assert np.all(result.a.numpy() == 0) and np.all(result.b.numpy() == 0)
    assert all(np.isfinite(value.numpy()) for value in result.stats.values())


def test_path_without_gradient_gives_zero_without_nan(toy_results):
    toy, estimate, _ = toy_results
    synthetic = toy.problem.synthetic_loss
    blind = dataclasses.replace(toy.problem, synthetic_loss=lambda W, G, E: synthetic(
        W, G, [tf.stop_gradient(e) for e in E]))   # the synthetic loss ignores E: no B path
    result = hypergradient.finite_difference(blind, *_args(toy)[1:], RATES)
    assert np.all(result.b.numpy() == 0) and result.stats["u_generator_norm"].numpy() == 0
    np.testing.assert_allclose(result.a, estimate.a, rtol=1e-5, atol=1e-8)
    assert all(np.isfinite(value.numpy()) for value in result.stats.values())


def test_compute_dispatches_and_rejects_unknown_methods(toy_results):
    toy, estimate, reference = toy_results
    np.testing.assert_array_equal(
        hypergradient.compute("finite_difference", *_args(toy), RATES).a, estimate.a)
    np.testing.assert_array_equal(hypergradient.compute("exact", *_args(toy), RATES).b, reference.b)
    with pytest.raises(ValueError, match="second_order"):
        hypergradient.compute("second_order", *_args(toy), RATES)


@pytest.mark.parametrize("method, jit_compile",
                         [(method, False) for method in hypergradient.METHODS]
                         + [("finite_difference", True)])
def test_runs_inside_tf_function_like_eager(method, jit_compile):
    toy = _toy(3)
    compiled = tf.function(lambda W, G, E, A, B: hypergradient.compute(
        method, toy.problem, W, G, E, A, B, RATES), jit_compile=jit_compile)
    graph = compiled(toy.W, toy.G, toy.E, toy.A, toy.B)
    eager = hypergradient.compute(method, *_args(toy), RATES)
    for name in ("a", "b"):  # float32: graph and eager may fuse ops differently, so entries
        # a hundred times smaller than the largest carry a larger relative rounding error
        np.testing.assert_allclose(getattr(graph, name), getattr(eager, name), rtol=1e-3,
                                   atol=1e-4 * np.abs(getattr(eager, name)).max())
    assert set(graph.stats) == set(eager.stats)


def test_float16_losses_give_float32_hypergradients(toy_results):
    toy, estimate, _ = toy_results
    half = hypergradient.Problem(*[
        (lambda fn: lambda *args: tf.cast(fn(*args), tf.float16))(getattr(toy.problem, f.name))
        for f in dataclasses.fields(hypergradient.Problem)])
    result = hypergradient.finite_difference(half, *_args(toy)[1:], RATES)
    assert result.a.dtype == result.b.dtype == tf.float32
    assert all(value.dtype == tf.float32 for value in result.stats.values())
    for name in ("a", "b"):
        assert _cosine(getattr(result, name), getattr(estimate, name)) >= 0.99


@pytest.mark.parametrize("seed", [0, 2])
def test_mixed_float16_models_agree_with_a_larger_epsilon(seed):
    """float16 gradients are too coarse for 0.01-sized probes (up to 35% off on this toy);
    epsilon_scale 0.1 gives under 3%."""
    reference = hypergradient.exact(*_args(_toy(seed)), RATES)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        estimate = hypergradient.finite_difference(*_args(_toy(seed)), RATES, epsilon_scale=0.1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for name in ("a", "b"):
        got, want = getattr(estimate, name), getattr(reference, name)
        assert got.dtype == tf.float32
        assert _cosine(got, want) >= 0.99 and _relative_error(got, want) <= 0.05, name


def test_models_are_not_mutated():
    toy = _toy(4)
    before = [v.numpy().copy() for model in toy.models for v in model.variables]
    for method in hypergradient.METHODS:
        hypergradient.compute(method, *_args(toy), RATES)
    after = [v.numpy() for model in toy.models for v in model.variables]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))
