"""Mixed precision: the Keras dtype policy a run computes in (`config.mixed_precision`), and the
float32 that every loss is computed in whatever the layers compute in.

Under "mixed_float16" / "mixed_bfloat16" layers keep float32 weights and compute in half
precision; losses, the loss scale (float16: `guard.py`), the hypergradient's A/B
arithmetic, its probes (`float32_layers`) and what models hand on (logits, generated images:
`full_precision`) stay float32.
"""

import contextlib
from typing import Sequence

import keras
import tensorflow as tf
from absl import logging

_CPU_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_bfloat16_units() -> tuple:
    """The CPU's bfloat16 instruction sets (AVX512_BF16, AMX-BF16) named in /proc/cpuinfo; () when
    none or not Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return ()
    return tuple(flag for flag in _CPU_BFLOAT16_FLAGS if flag in flags)


def set_policy(policy: str) -> None:
    """Makes `policy` the global Keras dtype policy for every model built after, and logs it."""
    keras.config.set_dtype_policy(policy)
    units = cpu_bfloat16_units()
    logging.info("mixed precision: %s (CPU bfloat16 units: %s)", policy,
                 ", ".join(units) if units else "none")


@contextlib.contextmanager
def float32_layers(models: Sequence):
    """Within: every layer of `models` that computes in half precision computes in float32 (on
    the same float32 weights); what is traced or run inside sees float32. Stage 4's finite-
    difference probes run so: a +-epsilon step in the weights drowns in bfloat16's 8 bits."""
    layers = [layer for model in models for layer in model._flatten_layers()
              if layer.dtype_policy.compute_dtype in ("float16", "bfloat16")]
    policies = [layer.dtype_policy for layer in layers]
    for layer in layers:
        layer.dtype_policy = "float32"
    try:
        yield
    finally:
        for layer, policy in zip(layers, policies):
            layer.dtype_policy = policy


def full_precision(x):
    """`x` in the precision that losses and models' outputs (logits, images) are in: half
    precision becomes float32; float32 and float64 (the precise hypergradient check) stay."""
    x = tf.convert_to_tensor(x)
    return tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x
