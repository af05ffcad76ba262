"""The A and B update (`joint/architect.py`) on hand-made hypergradients: A's step keeps each
caption's hypergradient size relative to its batch, whatever the hypergradients' overall scale."""

import numpy as np
import tensorflow as tf

from caption_aug.training.joint import architect as architect_lib
from caption_aug.training.joint import hypergradient
from configs import all_tiny


def test_batch_normalised_keeps_relative_sizes_and_zeros_at_any_scale():
    gradient = tf.constant([0.0, 2e-7, -1e-7, 0.0, 4e-7])
    normalised = architect_lib.batch_normalised(gradient).numpy()
    touched = normalised[[1, 2, 4]]
    np.testing.assert_allclose(np.sqrt(np.mean(touched ** 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(touched / touched[0], [1.0, -0.5, 2.0], rtol=1e-6)
    assert normalised[0] == normalised[3] == 0.0
    np.testing.assert_allclose(architect_lib.batch_normalised(gradient * 1e6).numpy(), normalised,
                               rtol=1e-5)
    assert not np.any(architect_lib.batch_normalised(tf.zeros([4])).numpy())


def test_each_caption_weight_moves_in_proportion_to_its_hypergradient():
    """Per-coordinate Adam moved both captions by the learning rate (the sign alone)."""
    config = all_tiny.get_config()
    config.joint.update_architecture = False
    logits = tf.Variable(tf.zeros([4]))
    arch = tf.Variable(tf.zeros([2, 3]))
    architect = architect_lib.Architect(config, logits, arch)
    architect.update(hypergradient.Hypergradients(a=tf.constant([1e-7, 0.0, -3e-7, 0.0]),
                                                  b=tf.ones([2, 3]), stats={}))
    step = -logits.numpy()
    np.testing.assert_allclose(step[2] / step[0], -3.0, rtol=1e-5)
    assert step[1] == step[3] == 0.0
    np.testing.assert_allclose(np.sqrt(np.mean(step[[0, 2]] ** 2)),
                               config.joint.caption_weights_lr, rtol=1e-5)
    assert not np.any(arch.numpy()), "B moved although frozen"
