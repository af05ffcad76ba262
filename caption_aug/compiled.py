"""`tf.function` as every step, evaluation and export of caption_aug compiles it: AutoGraph off.

The compiled code branches and loops only in Python over settings fixed at trace time, or through
explicit `tf.cond` / `tf.while_loop` / `tf.scan` (and Keras' ops), so AutoGraph's source
conversion changes no graph (the same 30,391 operations in the joint step at test size) but took
about a quarter of its Python tracing (`benchmarks/bench_trace.py`: 0.73x without it). Without
it, a Python `if` or `for` on a tensor fails at trace time instead of being converted.
"""

import tensorflow as tf


def function(fn=None, **options):
    """`tf.function(fn, autograph=False, **options)`; also a decorator, with or without options."""
    if fn is None:
        return lambda f: tf.function(f, autograph=False, **options)
    return tf.function(fn, autograph=False, **options)
