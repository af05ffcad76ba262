"""Every model of a config with random weights, and random batches of the configured shapes: what
`--mode=dry_run` and `--mode=check_hypergradient` run the joint step on, with no data, no
pretrained weights and no network.

A config that names a keras-hub preset for the LM is built from scratch at its `lm.*` sizes and
over `tokenizer.vocab_size` tokens (the paper configs set both to DistilGPT2's).
"""

import keras
import numpy as np
import tensorflow as tf

from caption_aug.models import caption_lm
from caption_aug.models import sentence_encoder
from caption_aug.models.captioner import build_captioner
from caption_aug.models.stage2gan import conditioning as conditioning_lib
from caption_aug.models.stage2gan import factory as gan_factory
from caption_aug.training import gan_trainer as gan_trainer_lib
from caption_aug.training.joint import problem as joint_problem

NUM_CAPTIONS = 1000  # length of the random A: any caption_index drawn below is in range


def offline_copy(config):
    """`config` with every pretrained weight and preset switched off (the shapes kept)."""
    config = config.copy_and_resolve_references()
    config.lm.preset = ""
    config.captioner.weights = ""
    config.encoder.image_weights = ""
    config.gan.derived_architecture = ""
    return config


def build(config, vocabulary_size: int, num_captions: int = NUM_CAPTIONS):
    """(JointModels, A variable over `num_captions` captions, GanStep) with random weights,
    seeded by `config.seed`."""
    keras.utils.set_random_seed(config.seed)
    lm = caption_lm.build_caption_lm(config.lm, vocabulary_size)
    conditioning = None
    if config.gan.conditioning == "encoder":
        encoder = sentence_encoder.build_sentence_encoder(
            config.encoder, vocabulary_size, config.pipeline.encoder_image_size)
        conditioning = conditioning_lib.EncoderConditioning(
            encoder, config.pipeline.encoder_image_size, config.encoder.image_normalization)
    gan_models = gan_factory.build_models(config.gan, config.pipeline.gan_image_size,
                                              vocabulary_size, config.seed,
                                              conditioning=conditioning)
    gan = gan_trainer_lib.GanStep(config.gan, gan_models, config.seed,
                                     config.max_consecutive_skips)
    captioner = build_captioner(config.captioner, vocabulary_size,
                                config.pipeline.captioner_image_size)
    models = joint_problem.JointModels(
        lm=lm, embed_text=gan_models.conditioning.embed, generator=gan_models.generator,
        discriminator=gan_models.discriminator, captioner=captioner,
        generator_objective=gan.generator_objective)
    weight_logits = tf.Variable(
        caption_lm.initial_weight_logits(num_captions, config.lm.initial_caption_weight).astype(
            keras.config.dtype_policy().variable_dtype),
        trainable=False, name="caption_weight_logits")
    return models, weight_logits, gan


def _tokens(rng, batch: int, length: int, vocabulary_size: int) -> dict:
    lengths = rng.integers(3, length + 1, size=batch)
    mask = np.arange(length)[None, :] < lengths[:, None]
    ids = np.where(mask, rng.integers(0, vocabulary_size, size=(batch, length)), 0)
    return {"token_ids": ids.astype(np.int32), "padding_mask": mask}


def batches(config, vocabulary_size: int, seed: int) -> dict:
    """One joint iteration's inputs (as `joint_trainer.next_batches` gives), random."""
    rng = np.random.default_rng(seed)
    pipe, gan = config.pipeline, config.gan
    length = min(config.data.max_caption_tokens, pipe.bucket_boundaries[-1])
    cap_size, gan_size = pipe.captioner_image_size, pipe.gan_image_size

    def captioner_batch():
        return {"image": rng.standard_normal((pipe.batch_size, cap_size, cap_size, 3)).astype(
            np.float32), **_tokens(rng, pipe.batch_size, length, vocabulary_size)}

    def gan_batch():
        wrong = _tokens(rng, gan.batch_size, config.data.max_caption_tokens, vocabulary_size)
        return {"image": rng.uniform(-1, 1, (gan.batch_size, gan_size, gan_size, 3)).astype(
                    np.float32),
                **_tokens(rng, gan.batch_size, config.data.max_caption_tokens, vocabulary_size),
                "wrong_token_ids": wrong["token_ids"], "wrong_padding_mask": wrong["padding_mask"],
                "caption_index": rng.integers(0, NUM_CAPTIONS, gan.batch_size).astype(np.int32),
                "image_index": np.arange(gan.batch_size, dtype=np.int32)}

    synthetic_size = config.joint.synthetic_batch_size
    synthetic = _tokens(rng, synthetic_size, config.lm.generation.max_length + 2, vocabulary_size)
    synthetic["generated_mask"] = synthetic["padding_mask"] & (
        np.arange(synthetic["padding_mask"].shape[1])[None, :] > 2)
    synthetic["noise"] = rng.standard_normal((synthetic_size, gan.noise_dim)).astype(np.float32)
    lm_batch = _tokens(rng, pipe.batch_size, length, vocabulary_size)
    lm_batch["caption_index"] = rng.choice(NUM_CAPTIONS, pipe.batch_size, replace=False).astype(
        np.int32)
    return {"lm": lm_batch, "gan": [gan_batch() for _ in range(1 + gan.generator_steps)],
            "real": captioner_batch(), "validation": captioner_batch(), "synthetic": synthetic}
