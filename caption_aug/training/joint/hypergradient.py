"""Hypergradients of the captioner's validation loss with respect to A and B (docs/DESIGN.md, 2).

Model-agnostic, like DARTS' architect.py: it sees only pure loss closures over explicit lists of
tensors (`Problem`), never models, and assigns no weights. Three methods share one unrolled
virtual step: nested finite differences (the paper's), exact second-order autodiff through the
virtual step (nested tapes; for checking on small models), and a first-order variant that takes v
at W instead of W'. Arithmetic is float32 (float64 for float64 models, for precise checks) and
every function runs inside `tf.function`.

Derivation of the signs. The virtual step is G' = G - eta_G dG lm(G, A), E' = E - xi_E dE gen(E, B),
W' = W - eta_W dW [real(W) + lambda syn(W, G', E')]. With v = dL_val(W')/dW',
  dL_val/dG' = -eta_W lambda d/dG' <v, dW syn(W, G', E')> ~= -eta_W lambda u_G,
  u_G = [dG' syn(W + eps v, G', E') - dG' syn(W - eps v, G', E')] / (2 eps),
  dL_val/dA = <dL_val/dG', dG'/dA> ~= (-eta_W lambda)(-eta_G) d/dA <u_G, dG lm(G, A)>
            ~= (-eta_W lambda)(-eta_G) [dA lm(G + eps_a u_G, A) - dA lm(G - eps_a u_G, A)]
               / (2 eps_a),
and likewise for B through E' with xi_E. `exact` differentiates L_val(W'(A, B)) itself.
"""

import dataclasses
from typing import Callable, NamedTuple

import tensorflow as tf

from caption_aug import distribute

METHODS = ("finite_difference", "exact", "first_order")
# A probe direction with a smaller norm counts as zero: its epsilon stays finite (no inf/NaN).
NORM_FLOOR = 1e-12


@dataclasses.dataclass(frozen=True)
class Problem:
    """Pure closures of one joint iteration's batches; every argument is explicit, none mutates.

    Any randomness inside (synthetic sampling, noise, dropout) must be fixed per iteration, so
    that the virtual step and the +- probes see the same draws.
    """
    # (G: list[Tensor], A: Tensor[N]) -> scalar: sum_i a_i l_i(G) on the LM batch.
    lm_loss: Callable
    # (E: list[Tensor], B: Tensor[edges, ops]) -> scalar: L_gen(E, F, B) on the GAN batch, F fixed.
    generator_loss: Callable
    # (W: list[Tensor]) -> scalar: L(real batch; W).
    real_loss: Callable
    # (W: list, G: list, E: list) -> scalar: L(S(G, E); W), S drawn from LM G and generator E.
    synthetic_loss: Callable
    # (W: list) -> scalar: L(D_val; W).
    validation_loss: Callable


@dataclasses.dataclass(frozen=True)
class Rates:
    """Plain-SGD rates of the virtual step (floats or float32 scalar tensors)."""
    captioner_lr: float        # eta_W of the virtual step
    lm_lr: float               # eta_G
    generator_lr: float        # xi_E
    synthetic_weight: float    # lambda
    real_weight: float = 1.0   # x the real loss (0: synthetic pairs only)


class Hypergradients(NamedTuple):
    a: tf.Tensor   # dL_val/dA, dense float32 [N]
    b: tf.Tensor   # dL_val/dB, float32 [edges, ops]
    stats: dict    # float32 scalars; keys per method in each function's docstring


class VirtualStep(NamedTuple):
    """One unrolled plain-SGD step of every level from the iteration's starting weights."""
    lm_weights: list          # G'
    generator_weights: list   # E'
    captioner_weights: list   # W'


def _compute_dtype(dtype):
    """float64 for float64 models (precise checks), else float32 (also under mixed precision)."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _dense(gradient):
    if isinstance(gradient, tf.IndexedSlices):
        gradient = tf.convert_to_tensor(gradient)
    return tf.cast(gradient, _compute_dtype(gradient.dtype))


def _gradients(loss_fn, params):
    """(float32 loss, dense float32 gradients shaped like `params`) of loss_fn(params); zeros
    where the loss does not depend on a parameter. Under a strategy, where each replica's
    closures compute its share of the global loss, both are summed over the replicas: every
    replica then holds the global values, and so takes the same probes."""
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = loss_fn(params)
        loss = tf.cast(loss, _compute_dtype(loss.dtype))
    gradients = tape.gradient(loss, params, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return distribute.sum_over_replicas((loss, tf.nest.map_structure(_dense, gradients)))


def _axpy(params, direction, scale):
    """params + scale * direction in float32, returned in each parameter's own dtype."""
    return [tf.cast(tf.cast(p, d.dtype) + tf.cast(scale, d.dtype) * d, p.dtype)
            for p, d in zip(params, direction)]


def _probe_epsilon(epsilon_scale, direction):
    norm = tf.linalg.global_norm(direction)
    return norm, epsilon_scale / tf.maximum(norm, NORM_FLOOR)


def _weighted_training_loss(problem, rates, lm_weights, generator_weights):
    def loss(captioner_weights):
        real = problem.real_loss(captioner_weights)
        real = tf.cast(real, _compute_dtype(real.dtype))
        synthetic = tf.cast(problem.synthetic_loss(captioner_weights, lm_weights, generator_weights),
                            real.dtype)
        return rates.real_weight * real + rates.synthetic_weight * synthetic
    return loss


def _virtual_lm_and_generator(problem, G, E, A, B, rates):
    _, lm_gradients = _gradients(lambda g: problem.lm_loss(g, A), G)
    _, generator_gradients = _gradients(lambda e: problem.generator_loss(e, B), E)
    return _axpy(G, lm_gradients, -rates.lm_lr), _axpy(E, generator_gradients, -rates.generator_lr)


def virtual_step(problem: Problem, W, G, E, A, B, rates: Rates) -> VirtualStep:
    """G', E' and W' (S drawn from G', E'), differentiable in A and B under an outer tape."""
    lm_weights, generator_weights = _virtual_lm_and_generator(problem, G, E, A, B, rates)
    _, captioner_gradients = _gradients(
        _weighted_training_loss(problem, rates, lm_weights, generator_weights), W)
    return VirtualStep(lm_weights, generator_weights,
                       _axpy(W, captioner_gradients, -rates.captioner_lr))


def _nested_finite_differences(problem, W, G, E, A, B, rates, lm_weights, generator_weights,
                               validation_weights, epsilon_scale):
    """The A and B hypergradients with v taken at `validation_weights` (W' or W)."""
    validation_loss, v = _gradients(problem.validation_loss, validation_weights)
    v_norm, epsilon = _probe_epsilon(epsilon_scale, v)

    def synthetic_gradients(sign):
        probe = _axpy(W, v, sign * epsilon)
        _, gradients = _gradients(lambda ge: problem.synthetic_loss(probe, *ge),
                                  (lm_weights, generator_weights))
        return gradients

    (lm_plus, generator_plus), (lm_minus, generator_minus) = (synthetic_gradients(1.0),
                                                              synthetic_gradients(-1.0))
    u_lm = [(p - m) / (2.0 * epsilon) for p, m in zip(lm_plus, lm_minus)]
    u_generator = [(p - m) / (2.0 * epsilon) for p, m in zip(generator_plus, generator_minus)]
    u_lm_norm, epsilon_a = _probe_epsilon(epsilon_scale, u_lm)
    u_generator_norm, epsilon_b = _probe_epsilon(epsilon_scale, u_generator)

    def a_gradient(sign):
        probe = _axpy(G, u_lm, sign * epsilon_a)
        return _gradients(lambda a: problem.lm_loss(probe, a), A)[1]

    def b_gradient(sign):
        probe = _axpy(E, u_generator, sign * epsilon_b)
        return _gradients(lambda b: problem.generator_loss(probe, b), B)[1]

    captioner_factor = -rates.captioner_lr * rates.synthetic_weight
    grad_a = ((captioner_factor * -rates.lm_lr) * (a_gradient(1.0) - a_gradient(-1.0))
              / (2.0 * epsilon_a))
    grad_b = ((captioner_factor * -rates.generator_lr) * (b_gradient(1.0) - b_gradient(-1.0))
              / (2.0 * epsilon_b))
    stats = dict(validation_loss=validation_loss, v_norm=v_norm, u_lm_norm=u_lm_norm,
                 u_generator_norm=u_generator_norm, epsilon=epsilon, epsilon_a=epsilon_a,
                 epsilon_b=epsilon_b)
    return Hypergradients(grad_a, grad_b, stats)


def finite_difference(problem: Problem, W, G, E, A, B, rates: Rates,
                      epsilon_scale=0.01) -> Hypergradients:
    """The paper's nested finite differences around the virtual step (docs/DESIGN.md section 2).

    Cost: 8 gradient evaluations (LM, generator, captioner real+synthetic, validation, synthetic
    at W+ and W-, generator loss w.r.t. B at E+ and E-) plus 2 LM forwards (the A gradients need
    only the per-example losses). stats: validation_loss (at W'), v_norm, u_lm_norm,
    u_generator_norm, epsilon, epsilon_a, epsilon_b.
    """
    step = virtual_step(problem, W, G, E, A, B, rates)
    return _nested_finite_differences(problem, W, G, E, A, B, rates, step.lm_weights,
                                      step.generator_weights, step.captioner_weights, epsilon_scale)


def first_order(problem: Problem, W, G, E, A, B, rates: Rates,
                epsilon_scale=0.01) -> Hypergradients:
    """`finite_difference` with v = grad_W L_val(W): no virtual captioner step (one gradient
    evaluation fewer). stats as `finite_difference`, validation_loss taken at W."""
    lm_weights, generator_weights = _virtual_lm_and_generator(problem, G, E, A, B, rates)
    return _nested_finite_differences(problem, W, G, E, A, B, rates, lm_weights,
                                      generator_weights, W, epsilon_scale)


def exact(problem: Problem, W, G, E, A, B, rates: Rates) -> Hypergradients:
    """d/dA and d/dB of L_val(W'(A, B)) by autodiff through the unrolled virtual step (nested
    tapes, true Hessian-vector products): for small models and for checking, on one device.
    stats: validation_loss (at W').

    The closures must be twice differentiable by TensorFlow: a soft-target cross entropy built on
    the fused softmax_cross_entropy_with_logits silently gives zero (its gradient op has no
    registered second derivative in TensorFlow).
    """
    A, B = tf.convert_to_tensor(A), tf.convert_to_tensor(B)
    with tf.GradientTape() as tape:
        tape.watch([A, B])
        step = virtual_step(problem, W, G, E, A, B, rates)
        validation_loss = problem.validation_loss(step.captioner_weights)
        validation_loss = tf.cast(validation_loss, _compute_dtype(validation_loss.dtype))
    grad_a, grad_b = tape.gradient(validation_loss, [A, B],
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return Hypergradients(_dense(grad_a), _dense(grad_b),
                          dict(validation_loss=validation_loss))


def compute(method: str, problem: Problem, W, G, E, A, B, rates: Rates,
            epsilon_scale=0.01) -> Hypergradients:
    """Dispatches on `method` (one of METHODS); `exact` ignores epsilon_scale."""
    if method == "exact":
        return exact(problem, W, G, E, A, B, rates)
    if method == "finite_difference":
        return finite_difference(problem, W, G, E, A, B, rates, epsilon_scale)
    if method == "first_order":
        return first_order(problem, W, G, E, A, B, rates, epsilon_scale)
    raise ValueError(f"unknown hypergradient method {method!r}; expected one of {METHODS}")
