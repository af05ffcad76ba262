"""Run by test_distribute.py in a fresh process (the CPU must be split into 2 logical devices
before TensorFlow starts): two steps of each named stage (captioner, LM, sentence encoder, GAN
conditioned on the encoder or on its trainable stand-in, the joint iteration) on one global
batch, once on one device and once mirrored over the two; also the encoders' pretraining step
(classifier). Prints one JSON line per stage of the largest differences between them.

  python -m tests.training.mirrored_steps captioner|captioner_resnet|classifier|lm|encoder|gan|gan_trainable|joint[,...] \
      [float32|mixed_bfloat16]
"""

import json
import sys
import types

import numpy as np
import tensorflow as tf

from caption_aug import distribute

distribute.split_cpu(2)

import keras  # noqa: E402  (after the CPU split)

from caption_aug import config_schema  # noqa: E402
from caption_aug import guard as guard_lib  # noqa: E402
from caption_aug.evaluation import attribute_classifier  # noqa: E402
from caption_aug.models import caption_lm  # noqa: E402
from caption_aug.models import sentence_encoder  # noqa: E402
from caption_aug.models.captioner import build_captioner  # noqa: E402
from caption_aug.models.stage2gan import conditioning as conditioning_lib  # noqa: E402
from caption_aug.models.stage2gan import factory as gan_factory  # noqa: E402
from caption_aug.training import captioner_trainer  # noqa: E402
from caption_aug.training import encoder_trainer  # noqa: E402
from caption_aug.training import gan_trainer  # noqa: E402
from caption_aug.training import lm_trainer  # noqa: E402
from caption_aug.training.checks import random_models  # noqa: E402
from caption_aug.training.joint import step as joint_step_lib  # noqa: E402
from configs import hypergrad_check  # noqa: E402
from tests.models.captioner_fixtures import IMAGE_SIZE, VOCAB, tiny_captioner_config  # noqa: E402

BATCH, LENGTH, OBJECTS, CAPTIONS, GAN_SIZE = 6, 8, 2, 10, 16
LENGTHS = np.array([8, 3, 4, 8, 6, 8])


def captioner_batch(seed: int) -> dict:
    """Captions of different lengths (the two halves hold different token counts) with words
    grounded in objects, so that every global count of the loss matters."""
    rng = np.random.default_rng(seed)
    mask = np.arange(LENGTH)[None, :] < LENGTHS[:, None]
    pixels = tiny_captioner_config().encoded_size ** 2
    object_masks = rng.random((BATCH, OBJECTS, pixels))
    return {"image": rng.normal(size=(BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
            "token_ids": np.where(mask, rng.integers(2, VOCAB, (BATCH, LENGTH)), 1).astype("int32"),
            "padding_mask": mask,
            "token_object": (rng.integers(0, OBJECTS + 1, (BATCH, LENGTH)) * mask).astype("int32"),
            "token_related": np.zeros((BATCH, LENGTH), "int32"),
            "object_masks": (object_masks / object_masks.sum(-1, keepdims=True)).astype("float32")}


def lm_batch(seed: int) -> dict:
    """Captions of different lengths, each with its index into A."""
    rng = np.random.default_rng(seed)
    mask = np.arange(LENGTH)[None, :] < LENGTHS[:, None]
    return {"token_ids": np.where(mask, rng.integers(2, VOCAB, (BATCH, LENGTH)), 0).astype("int32"),
            "padding_mask": mask,
            "caption_index": rng.permutation(CAPTIONS)[:BATCH].astype("int32")}


def encoder_batch(seed: int) -> dict:
    """Pairs whose images repeat across the two halves (several captions of one image), so
    that the contrastive loss's matches cross replicas."""
    rng = np.random.default_rng(seed)
    mask = np.arange(LENGTH)[None, :] < LENGTHS[:, None]
    return {"image": rng.normal(size=(BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
            "token_ids": np.where(mask, rng.integers(2, VOCAB, (BATCH, LENGTH)), 0).astype("int32"),
            "padding_mask": mask, "image_index": np.array([0, 1, 2, 0, 3, 1], "int32")}


def captioner_step():
    """(step, model, its weights, its optimisers, batch maker): dropout off, so that no replica
    draws masks of its own."""
    cfg = tiny_captioner_config(dropout=0.0, attention_supervision=1.0)
    model = build_captioner(cfg, VOCAB, IMAGE_SIZE)
    step = captioner_trainer.CaptionerStep(cfg, model, max_consecutive_skips=5)
    return (step, model, step.encoder_variables + step.decoder_variables,
            (step.encoder_optimizer, step.decoder_optimizer), captioner_batch)


def captioner_resnet_step():
    """The same with a keras.applications ResNet-50 encoder (random weights, conv5 trained: its
    batch norms in training mode) on 64x64 images (a 2x2 grid)."""
    cfg = tiny_captioner_config(dropout=0.0, backbone="resnet50", encoded_size=2,
                                fine_tune_stages=("conv5",))
    model = build_captioner(cfg, VOCAB, 2 * IMAGE_SIZE)
    step = captioner_trainer.CaptionerStep(cfg, model, max_consecutive_skips=5)

    def batch(seed):
        rng = np.random.default_rng(seed)
        image = rng.normal(size=(BATCH, 2 * IMAGE_SIZE, 2 * IMAGE_SIZE, 3)).astype("float32")
        object_masks = rng.random((BATCH, OBJECTS, 4))
        return {**captioner_batch(seed), "image": image,
                "object_masks": (object_masks / object_masks.sum(-1, keepdims=True)).astype("float32")}

    return (step, model, step.encoder_variables + step.decoder_variables,
            (step.encoder_optimizer, step.decoder_optimizer), batch)


def lm_step():
    """The same for a tiny GPT-2 LM whose caption weights a_i differ."""
    cfg = config_schema.base_config().lm
    cfg.num_layers, cfg.num_heads, cfg.hidden_dim, cfg.intermediate_dim = 1, 2, 16, 32
    cfg.dropout = 0.0
    model = caption_lm.build_caption_lm(cfg, VOCAB)
    weight_logits = tf.Variable(np.linspace(-2.0, 2.0, CAPTIONS, dtype="float32"),
                                trainable=False)
    step = lm_trainer.LMStep(cfg, model, weight_logits, max_consecutive_skips=5)
    return step, model, model.trainable_variables, (step.optimizer,), lm_batch


def encoder_step():
    """The same for a tiny sentence encoder (small CNN with batch norm, GRU; no dropout)."""
    config = config_schema.base_config()
    config.encoder.update(dict(embedding_dim=16, token_embedding_dim=8, rnn_units=8))
    config.pipeline.encoder_image_size = IMAGE_SIZE
    config.data.max_caption_tokens = LENGTH
    step = encoder_trainer.build_step(config, VOCAB)
    return step, step.encoder, step.encoder.trainable_variables, (step.optimizer,), encoder_batch


def gan_batch(seed: int) -> dict:
    """Matching pairs whose images repeat across the two halves (the matching loss's matches
    cross replicas, as GAN-INT's mixed captions do). Drawn from seed + 10: seeds 1 and 2 put
    some activation of the tiny GAN within rounding of a kink (ReLU, hinge), so that one device
    and two replicas, which round apart, take different sides of it and the generator's Adam
    moments part by 7e-3; seeds 11/12, 21/22 and 31/32 all agree to 7e-6 (measured 2026-12-06)."""
    seed += 10
    batch = encoder_batch(seed)
    rng = np.random.default_rng(seed + 100)
    wrong = rng.permutation(BATCH)
    return {**batch, "image": rng.uniform(-1, 1, (BATCH, GAN_SIZE, GAN_SIZE, 3)).astype("float32"),
            "wrong_token_ids": batch["token_ids"][wrong],
            "wrong_padding_mask": batch["padding_mask"][wrong]}


def gan_step(conditioning: str = "encoder"):
    """The same for a tiny GAN with every term of its game: a supernet discriminator, GAN-INT,
    mode seeking, the generator's moving average and, conditioned on a (random, frozen) sentence
    encoder, the matching loss; or the trainable stand-in embedding with its own optimiser."""
    cfg = config_schema.base_config().gan
    cfg.update(dict(generator_channels=8, discriminator_channels=4, noise_dim=8,
                    interpolation=True, conditioning=conditioning,
                    matching_weight=1.0 if conditioning == "encoder" else 0.0))
    frozen = None
    if conditioning == "encoder":
        encoder = sentence_encoder.SentenceEncoder(VOCAB, image_size=GAN_SIZE, embedding_dim=32,
                                                   token_embedding_dim=8, rnn_units=8)
        encoder.build_both(GAN_SIZE)
        frozen = conditioning_lib.EncoderConditioning(encoder, GAN_SIZE, "imagenet")
    models = gan_factory.build_models(cfg, GAN_SIZE, VOCAB, 0, conditioning=frozen)
    step = gan_trainer.GanStep(cfg, models, seed=0, max_consecutive_skips=5)
    trained = [models.generator, models.discriminator, models.generator_ema]
    optimizers = [step.generator_optimizer, step.discriminator_optimizer]
    weights = models.generator.trainable_variables + models.discriminator.trainable_variables
    if step.trains_conditioning:
        trained.append(models.conditioning)
        optimizers.append(step.conditioning_optimizer)
        weights += models.conditioning.trainable_variables
    every_model = types.SimpleNamespace(
        variables=[v for m in trained for v in m.variables],
        non_trainable_variables=[v for m in trained for v in m.non_trainable_variables])
    return step, every_model, weights, tuple(optimizers), gan_batch


class JointIteration:
    """A joint step's `train_step`: one iteration with the hypergradient on global batches (the
    joint step splits them across the replicas itself), `applied` 1 when no part skipped."""

    def __init__(self, step):
        self.step = step

    def train_step(self, batches) -> dict:
        skipped = self.step.skipped_steps()
        figures = self.step(batches, with_hypergradient=True)
        return {**figures, "applied": float(self.step.skipped_steps() == skipped)}


def joint_step():
    """The same for one joint iteration of tiny random models (`configs/hypergrad_check.py`,
    dropout off): the hypergradient's probes, A and B updates, the LM, GAN (hinge, matching
    loss through the frozen sentence encoder) and captioner updates. Its global batches hold 4
    rows each, 2 per replica, drawn from seed + 10: with seeds 1 and 2 the captioner's first
    convolution's moments part by 3e-4, from the generator's bias before batch norm, whose
    rounding-noise gradient Adam turns into +-lr steps (README, Distribution); with 11/12 they
    agree to 1e-5, as with 21/22 without the hypergradient (measured 2026-12-07)."""
    config = hypergrad_check.get_config()
    config.gan.update(dict(loss="hinge", matching_weight=1.0))
    config.joint.epsilon_scale = 0.01  # the default: the check's 1e-4 is for float64
    vocabulary = config.tokenizer.vocab_size
    models, weight_logits, gan = random_models.build(config, vocabulary)
    step = joint_step_lib.JointStep(config, models, weight_logits, gan)
    trained = [models.lm, models.captioner, models.discriminator, models.generator,
               gan.models.generator_ema]
    every_model = types.SimpleNamespace(
        variables=[v for m in trained for v in m.variables] + [weight_logits],
        non_trainable_variables=[v for m in trained for v in m.non_trainable_variables],
        compared={"caption_weights": [weight_logits],  # SGD: no moments, so A itself
                  "architecture_moments": [  # B's Adam: drowned among the others' moments
                      v for v in step.architect.architecture_optimizer.variables
                      if "momentum" in v.path]})
    captioner = step.captioner_step
    optimizers = (step.lm_step.optimizer, captioner.encoder_optimizer,
                  captioner.decoder_optimizer, gan.discriminator_optimizer,
                  gan.generator_optimizer, step.architect.architecture_optimizer)
    weights = (models.lm.trainable_variables + captioner.encoder_variables
               + captioner.decoder_variables + models.discriminator.trainable_variables
               + models.generator.trainable_variables + [models.discriminator.arch_weights])
    return (JointIteration(step), every_model, weights, optimizers,
            lambda seed: random_models.batches(config, vocabulary, seed + 10))


def classifier_batch(seed: int) -> tuple:
    """Images and their colour and shape classes."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (BATCH, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
            {name: rng.integers(0, len(values), BATCH).astype("int32")
             for name, values in attribute_classifier.ATTRIBUTES.items()})


def classifier_step():
    """The same for the encoders' pretraining step (`attribute_classifier.ClassifierStep`): a
    small CNN with batch norm under colour and shape heads."""
    model = attribute_classifier.build_classifiers(IMAGE_SIZE, (4, 8), 1, 0)[0]
    step = attribute_classifier.ClassifierStep(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None), 1e-3,
        guard_lib.NonFiniteGuard("classifier", 5, "learning_rate"))
    return step, model, model.trainable_variables, (step.optimizer,), classifier_batch


STAGES = {"captioner": captioner_step, "captioner_resnet": captioner_resnet_step,
          "classifier": classifier_step, "lm": lm_step, "encoder": encoder_step, "gan": gan_step,
          "gan_trainable": lambda: gan_step("trainable"), "joint": joint_step}


def run_steps(strategy, stage: str) -> dict:
    """Builds the stage's model and step under `strategy` from seed 0, takes two steps; returns
    the figures of each, the batch-norm statistics, the Adam moments (the gradients' running
    sums: the weights after Adam's normalised steps say little more), and whether every replica
    holds the same weights."""
    with strategy.scope():
        keras.utils.set_random_seed(0)
        step, model, weights, optimizers, make_batch = STAGES[stage]()
        figures = []
        for seed in (1, 2):
            # the joint step splits its global batches across the replicas itself
            batches = [make_batch(seed)] if stage == "joint" else distribute.distribute_batches(
                tf.data.Dataset.from_tensors(make_batch(seed)))
            for batch in batches:
                result = step.train_step(batch)
                figures.append({k: float(v) for k, v in result.items()})
    momentums = [v for o in optimizers for v in o.variables if "momentum" in v.path]
    velocities = [v for o in optimizers for v in o.variables if "velocity" in v.path]
    assert [v.shape for v in weights] == [m.shape for m in momentums] == [
        v.shape for v in velocities]
    copies = [strategy.experimental_local_results(v.value) for v in model.variables]
    return {"figures": figures,
            "statistics": [v.numpy() for v in model.non_trainable_variables
                           if "moving" in v.path],
            "momentums": [v.numpy() for v in momentums],
            "velocities": [v.numpy() for v in velocities],
            "compared": {name: [v.numpy() for v in variables]
                         for name, variables in getattr(model, "compared", {}).items()},
            "replicas_agree": all(np.array_equal(c[0], other) for c in copies for other in c[1:]),
            "replicas": strategy.num_replicas_in_sync}


def largest_difference(a: list, b: list) -> float:
    """max |a - b| over every array, relative to the largest |a| of them all (a per-array ratio
    would blow up on a gradient that is rounding noise, such as the bias before a softmax)."""
    if not a:
        return 0.0
    scale = max(float(np.max(np.abs(x))) for x in a)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)) / scale


def relative_difference(a: list, b: list, keys) -> float:
    """max |a - b| / |a| over the figures `keys` of each step (0 when there are none)."""
    return max([abs(x[k] - y[k]) / max(abs(x[k]), 1e-12) for x, y in zip(a, b) for k in x
                if keys(k)], default=0.0)


def compare(stage: str, strategy) -> dict:
    one = run_steps(tf.distribute.get_strategy(), stage)
    mirrored = run_steps(strategy, stage)

    def hypergradient(key):
        return key.startswith("hypergradient/")

    return {
        "stage": stage,
        "replicas": mirrored["replicas"],
        "replicas_agree": mirrored["replicas_agree"],
        "applied": [f["applied"] for f in mirrored["figures"]],
        "loss": relative_difference(one["figures"], mirrored["figures"],
                                    lambda key: not hypergradient(key)),
        "hypergradient": relative_difference(one["figures"], mirrored["figures"], hypergradient),
        "momentums": largest_difference(one["momentums"], mirrored["momentums"]),
        "velocities": largest_difference(one["velocities"], mirrored["velocities"]),
        "statistics": largest_difference(one["statistics"], mirrored["statistics"]),
        **{name: largest_difference(values, mirrored["compared"][name])
           for name, values in one["compared"].items()},
        "figures": [one["figures"], mirrored["figures"]]}


def main(stages: str, policy: str) -> None:
    keras.config.set_dtype_policy(policy)
    # one strategy for all stages: a second one's collectives fail in the same process
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for stage in stages.split(","):
        print(json.dumps(compare(stage, strategy)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "float32")
