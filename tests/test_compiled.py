"""`caption_aug.compiled.function`: tf.function with AutoGraph off, as a call and as a decorator."""

import pytest
import tensorflow as tf

from caption_aug import compiled


def test_compiles_as_a_call_and_as_a_decorator_with_options():
    double = compiled.function(lambda x: 2.0 * x)

    @compiled.function(reduce_retracing=True)
    def add_one(x):
        return x + 1.0

    assert float(double(tf.constant(3.0))) == 6.0
    assert float(add_one(tf.constant(3.0))) == 4.0


def test_a_python_branch_on_a_tensor_fails_at_trace_time_instead_of_being_converted():
    def relu(x):
        if x > 0:   # AutoGraph would turn this into a tf.cond
            return x
        return 0.0 * x

    assert float(tf.function(relu)(tf.constant(-2.0))) == 0.0
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
        compiled.function(relu)(tf.constant(-2.0))
