"""The GAN losses as plain functions of discriminator logits (stage 4 reuses them as L_gen).

`kind` "bce" is the paper's: binary cross-entropy from logits written with softplus (log(1 + e^x),
stable for any x and twice differentiable): label 1 costs softplus(-x), label 0 costs softplus(x).
"hinge" is the hinge loss of SAGAN / BigGAN (Lim & Ye 2017), whose discriminator stops pushing a
logit once it is beyond the margin, so it does not saturate the generator's gradient.

Means over the batch are over the global batch under a strategy of several replicas (each replica
returns its share, `caption_aug.distribute`); with one device they are the plain means.
"""

import tensorflow as tf

from caption_aug import distribute

KINDS = ("bce", "hinge")


def discriminator_loss(real_logits, wrong_logits, fake_logits, kind: str = "bce"):
    """Matching-aware loss (GAN-CLS): real image + matching caption is real; real image +
    mismatched caption and generated image + its caption are fake, each weighted 0.5."""
    if kind == "hinge":
        real, fake = lambda x: tf.nn.relu(1.0 - x), lambda x: tf.nn.relu(1.0 + x)
    else:
        real, fake = lambda x: tf.nn.softplus(-x), tf.nn.softplus
    mean = distribute.global_mean
    return (mean(real(real_logits)) + 0.5 * mean(fake(wrong_logits))
            + 0.5 * mean(fake(fake_logits)))


def generator_loss(fake_logits, kind: str = "bce"):
    """Generated images (with their captions, or interpolated ones under GAN-INT) should be
    judged real: non-saturating softplus(-x) under "bce", -x under "hinge"."""
    if kind == "hinge":
        return -distribute.global_mean(fake_logits)
    return distribute.global_mean(tf.nn.softplus(-fake_logits))


def mode_seeking_loss(images, other_images, noise, other_noise, epsilon: float = 1e-5):
    """Mode-seeking term (Mao et al. 2019, MSGAN): the inverse of the mean distance between two
    images of the same captions per unit of distance between their noises. Minimising it pushes
    the generator to draw different images for different noise instead of one per caption."""
    image_distance = tf.reduce_mean(tf.abs(images - other_images), axis=[1, 2, 3])
    noise_distance = tf.reduce_mean(tf.abs(noise - other_noise), axis=1)
    ratios = distribute.gather_batch(image_distance / noise_distance)
    return distribute.share_of_global(1.0 / (tf.reduce_mean(ratios) + epsilon))
