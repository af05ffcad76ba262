"""The GAN losses as plain functions of discriminator logits (stage 4 reuses them as L_gen).

Binary cross-entropy from logits written with softplus (log(1 + e^x), stable for any x and
twice differentiable): label 1 costs softplus(-x), label 0 costs softplus(x).
"""

import tensorflow as tf


def discriminator_loss(real_logits, wrong_logits, fake_logits):
    """Matching-aware loss (GAN-CLS): real image + matching caption is real; real image +
    mismatched caption and generated image + its caption are fake, each weighted 0.5."""
    return (tf.reduce_mean(tf.nn.softplus(-real_logits))
            + 0.5 * tf.reduce_mean(tf.nn.softplus(wrong_logits))
            + 0.5 * tf.reduce_mean(tf.nn.softplus(fake_logits)))


def generator_loss(fake_logits):
    """Non-saturating generator loss: generated images (with their captions, or interpolated
    ones under GAN-INT) should be judged real."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))
