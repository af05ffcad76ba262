"""`--mode=check_hypergradient`: the A and B hypergradients of one joint iteration, by finite
differences and exactly (nested tapes), on the config's four models with random weights and
random batches (`random_models`); prints one JSON line with their agreement. Use a tiny config
(`configs/hypergrad_check.py`, seconds on CPU) with dropout off, so both see the same function.

Two things stand between TensorFlow's nested tapes and an exact answer on these models, and the
check removes both while it runs (seen here, TF 2.21 on CPU):
- Keras's TensorFlow BatchNormalization takes batch moments with `tf.nn.moments`, whose variance
  stops the gradient through the mean: first derivatives are right, second derivatives are not
  (the generator, discriminator and captioner all normalise in training mode). The check swaps in
  plain moments (`second_order.second_order_moments`), as a run's exact hypergradients do.
- oneDNN's CPU kernels fail on the second derivative of the discriminator's convolutions:
  `train_main.py` turns them off (TF_ENABLE_ONEDNN_OPTS=0) for this mode, and for any run with
  exact hypergradients, before TensorFlow loads.
The models are float64, so finite differences can take the small epsilon the tiny models' strong
curvature needs (`joint.epsilon_scale` of the check config).
"""

import json
import time

import keras
import tensorflow as tf

from caption_aug import compiled
from caption_aug import precision
from caption_aug.models.second_order import second_order_moments
from caption_aug.training.checks import random_models
from caption_aug.training.joint import hypergradient
from caption_aug.training.joint import step as joint_step_lib


def agreement(approximate: tf.Tensor, exact: tf.Tensor) -> dict:
    """Cosine similarity and relative norm error ||approximate - exact|| / ||exact||."""
    a, e = (tf.reshape(tf.cast(x, tf.float64), [-1]) for x in (approximate, exact))
    norm = tf.norm(e)
    return {"cosine": float(tf.reduce_sum(a * e) / tf.maximum(tf.norm(a) * norm, 1e-30)),
            "relative_error": float(tf.norm(a - e) / tf.maximum(norm, 1e-30)),
            "exact_norm": float(norm)}


def random_joint_step(config, vocabulary_size: int, policy: str,
                      num_captions: int = random_models.NUM_CAPTIONS) -> joint_step_lib.JointStep:
    """The joint step of random models built under `policy`."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        models, weight_logits, gan = random_models.build(config, vocabulary_size, num_captions)
    finally:
        keras.config.set_dtype_policy(before)
    return joint_step_lib.JointStep(config, models, weight_logits, gan)


def copy_weights(source: joint_step_lib.JointStep, target: joint_step_lib.JointStep) -> None:
    """One joint step's weights (and A) into another's models of the same shapes, cast to each
    variable's dtype; raises when the two steps' models do not match variable for variable."""
    for source_model, model in zip(source.keras_models(), target.keras_models()):
        pairs = list(zip(source_model.variables, model.variables))
        if len(source_model.variables) != len(model.variables) or any(
                s.shape != v.shape for s, v in pairs):
            raise ValueError(f"model {model.name!r} does not match {source_model.name!r} variable "
                             "for variable: built from another config?")
        for source_variable, variable in pairs:
            variable.assign(tf.cast(source_variable, variable.dtype))
    target.weight_logits.assign(tf.cast(source.weight_logits, target.weight_logits.dtype))


def _arguments(step, batches) -> tuple:
    """The hypergradient's arguments of `step` on `batches`. Each step draws L_gen's noise from
    its own generator of one seed: every step's first call draws the same."""
    return (step.problem(batches, step.gan_noise_for(batches["gan"][0])), *step.arguments(),
            step.rates)


def _finite_difference(step, batches, epsilon_scale):
    """The finite-difference hypergradients as the joint step takes them: the problem (its
    caption embeddings included) and the probes in float32."""
    def probe():
        with precision.float32_layers(step.keras_models()):
            return hypergradient.finite_difference(*_arguments(step, batches),
                                                   epsilon_scale=epsilon_scale)

    return compiled.function(probe)()


def check(config) -> dict:
    """Both methods on one random problem; the agreement of A's and B's hypergradients. The exact
    one is always taken in float64. Under a mixed policy (`config.mixed_precision`) the finite
    differences are taken as a run takes them (probes in float32), on the same weights built
    under that policy; `float32_models` gives, for comparison, the agreement of finite differences
    taken on float32 models (what a float32 run gets)."""
    config = random_models.offline_copy(config)
    vocabulary_size = config.tokenizer.vocab_size
    step = probed = random_joint_step(config, vocabulary_size, "float64")
    if config.mixed_precision != "float32":
        probed = random_joint_step(config, vocabulary_size, config.mixed_precision)
        copy_weights(step, probed)
    batches = random_models.batches(config, vocabulary_size, seed=config.seed)
    args = _arguments(step, batches)
    started = time.time()
    approximate = (compiled.function(lambda: hypergradient.finite_difference(
        *args, epsilon_scale=config.joint.epsilon_scale))() if probed is step else
        _finite_difference(probed, batches, config.joint.epsilon_scale))
    finite_seconds = time.time() - started
    started = time.time()
    exact = compiled.function(lambda: hypergradient.exact(*args))()
    exact_seconds = time.time() - started
    result = {"seed": config.seed, "mixed_precision": config.mixed_precision,
              "a": agreement(approximate.a, exact.a), "b": agreement(approximate.b, exact.b),
              "seconds": {"finite_difference": round(finite_seconds, 2),
                          "exact": round(exact_seconds, 2)}}
    if probed is not step:
        float32 = random_joint_step(config, vocabulary_size, "float32")
        copy_weights(step, float32)
        reference = _finite_difference(float32, batches, config.joint.epsilon_scale)
        result["float32_models"] = {"a": agreement(reference.a, exact.a),
                                    "b": agreement(reference.b, exact.b)}
    return result


def run_mode(config, workdir: str) -> dict:
    # Deterministic kernels: without them seed 1's B figures under the hinge loss flipped between
    # two outcomes from run to run (relative error 0.0015 or 0.25), so a check could pass by luck.
    tf.config.experimental.enable_op_determinism()
    with second_order_moments():
        result = check(config)
    print(json.dumps(result))
    return result
