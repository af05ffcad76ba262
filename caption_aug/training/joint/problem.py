"""The four models of one joint iteration as pure loss closures for `hypergradient`.

Each closure takes the weights it is differentiated in as explicit lists of tensors and runs its
models through Keras 3's `stateless_call` with the non-trainable state captured when the problem
was built, so perturbed probes never touch a model and every +/- probe sees the same batch-norm
statistics and dropout masks. The synthetic pair path is docs/DESIGN.md section 2's relaxation:
sampled caption -> straight-through one-hots from the LM (G) -> GAN text embedding -> generator (E)
-> image, with the one-hots also serving as the captioner's soft targets.
"""

import dataclasses
from typing import Callable

import tensorflow as tf

from caption_aug.data import pipelines
from caption_aug.models import caption_lm
from caption_aug.models.captioner import loss as captioner_loss
from caption_aug.models.stateless import model_state
from caption_aug.training.joint import hypergradient


@dataclasses.dataclass
class JointModels:
    """The models stage 4 differentiates through; `embed_text(tokens, padding_mask)` is the GAN's
    (frozen) caption embedding, taking int ids or one-hots; `generator_objective(fake, embedding,
    real_images, image_index, offsets, discriminator_state, arch_weights)` is L_gen as the GAN
    step computes it (`GanStep.generator_objective`)."""
    lm: object
    embed_text: Callable
    generator: object
    discriminator: object
    captioner: object
    generator_objective: Callable


@dataclasses.dataclass(frozen=True)
class ProblemSettings:
    captioner_normalization: str
    captioner_image_size: int
    alpha_c: float
    straight_through_temperature: float


def captioner_batch_loss(captioner, weights, non_trainable, image, tokens, padding_mask,
                         settings: ProblemSettings, training: bool):
    """Teacher-forced Show-Attend-Tell loss of one batch on explicit weights; `tokens` are ids or
    (soft) one-hots."""
    def call(inputs):
        return captioner.stateless_call(weights, non_trainable, inputs, training=training)[0]

    return captioner_loss.teacher_forced_loss(call, image, tokens, padding_mask,
                                              settings.alpha_c)[0].total


def to_captioner_images(generated, settings: ProblemSettings):
    """Generator output in [-1, 1] -> the captioner's input size and normalisation (differentiably)."""
    size = settings.captioner_image_size
    if generated.shape[1] != size:
        generated = tf.image.resize(generated, [size, size], method="bilinear")
    return pipelines.normalize_unit_images((generated + 1.0) * 0.5,
                                           settings.captioner_normalization)


def synthetic_pairs(models: JointModels, lm_weights, lm_non_trainable, generator_weights,
                    generator_non_trainable, synthetic: dict, settings: ProblemSettings):
    """(images for the captioner, straight-through caption one-hots) of sampled captions.

    `synthetic` holds the LM's sampled `token_ids` [S, T] (start, prompt, continuation, end,
    padding), their `padding_mask`, the `generated_mask` of sampled positions and the `noise`.
    The images come from the generator in inference mode, as `--mode=synthesize` draws them.
    """
    one_hots = caption_lm.straight_through_one_hots(
        models.lm, synthetic["token_ids"], synthetic["padding_mask"], synthetic["generated_mask"],
        settings.straight_through_temperature, training=False,
        state=(lm_weights, lm_non_trainable))
    embedding = models.embed_text(one_hots, synthetic["padding_mask"])
    generated, _ = models.generator.stateless_call(
        generator_weights, generator_non_trainable,
        {"text_embedding": embedding, "noise": synthetic["noise"]}, training=False)
    return to_captioner_images(generated, settings), one_hots


def build_problem(models: JointModels, batches: dict, settings: ProblemSettings
                  ) -> hypergradient.Problem:
    """Closures over this iteration's batches: "lm" (an `lm_dataset` batch), "gan" (a matching
    batch: image, token_ids, padding_mask, image_index, noise, offsets), "real" and "validation"
    (captioner batches), "synthetic" (see `synthetic_pairs`). Non-trainable state is read now
    and held fixed."""
    lm_nt = model_state(models.lm)[1]
    generator_nt = model_state(models.generator)[1]
    discriminator_weights, discriminator_nt = model_state(models.discriminator)
    captioner_nt = model_state(models.captioner)[1]
    gan, real, validation = batches["gan"], batches["real"], batches["validation"]
    gan_embedding = tf.stop_gradient(models.embed_text(gan["token_ids"], gan["padding_mask"]))

    def lm_loss(lm_weights, weight_logits):
        losses = caption_lm.batch_losses(models.lm, batches["lm"], training=True,
                                         state=(lm_weights, lm_nt))
        return caption_lm.weighted_lm_loss(losses, weight_logits, batches["lm"]["caption_index"])

    def generator_loss(generator_weights, arch_weights):
        fake, _ = models.generator.stateless_call(
            generator_weights, generator_nt, {"text_embedding": gan_embedding,
                                              "noise": gan["noise"]}, training=True)
        return models.generator_objective(fake, gan_embedding, gan["image"], gan["image_index"],
                                          gan["offsets"],
                                          (discriminator_weights, discriminator_nt), arch_weights)

    def real_loss(captioner_weights):
        return captioner_batch_loss(models.captioner, captioner_weights, captioner_nt,
                                    real["image"], real["token_ids"], real["padding_mask"],
                                    settings, training=True)

    def synthetic_loss(captioner_weights, lm_weights, generator_weights):
        images, one_hots = synthetic_pairs(models, lm_weights, lm_nt, generator_weights,
                                           generator_nt, batches["synthetic"], settings)
        return captioner_batch_loss(models.captioner, captioner_weights, captioner_nt, images,
                                    one_hots, batches["synthetic"]["padding_mask"], settings,
                                    training=True)

    def validation_loss(captioner_weights):
        return captioner_batch_loss(models.captioner, captioner_weights, captioner_nt,
                                    validation["image"], validation["token_ids"],
                                    validation["padding_mask"], settings, training=False)

    return hypergradient.Problem(lm_loss=lm_loss, generator_loss=generator_loss,
                                 real_loss=real_loss, synthetic_loss=synthetic_loss,
                                 validation_loss=validation_loss)
