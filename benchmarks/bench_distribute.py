"""tf.distribute's overhead here: training steps/s of the default config's (configs/shapes.py)
captioner, LM, sentence-encoder and GAN steps (a GAN step: one discriminator and one generator
update, conditioned on an untrained sentence encoder: the cost does not depend on its weights)
and of its joint iteration with the hypergradient (random models and batches of the default's
sizes, `training.checks.random_models`, as benchmarks/bench_joint.py times it) under the default
strategy (one device) and mirrored over 2 logical CPU devices, on the same global batches, in one
process; prints figures and the mirrored / default ratio per stage, writes JSON. On one CPU no
gain is expected (the replicas share its cores): the ratio measures what the strategy costs.

  python benchmarks/bench_distribute.py [--steps=20] [--joint_steps=3]
      [--stages=captioner,lm,encoder,gan,joint] [--out=benchmarks/results/bench_distribute.json]
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from caption_aug import distribute  # noqa: E402

distribute.split_cpu(2)   # before TensorFlow starts its devices

import tensorflow as tf  # noqa: E402

from caption_aug.data import pipelines  # noqa: E402
from caption_aug.data import prepare  # noqa: E402
from caption_aug.data.caption_shapes import grounding  # noqa: E402
from caption_aug.models.captioner import build_captioner  # noqa: E402
from caption_aug.models.stage2gan import conditioning as conditioning_lib  # noqa: E402
from caption_aug.models.stage2gan import factory as gan_factory  # noqa: E402
from caption_aug.training import captioner_trainer  # noqa: E402
from caption_aug.training import encoder_trainer  # noqa: E402
from caption_aug.training import gan_trainer  # noqa: E402
from caption_aug.training import lm_trainer  # noqa: E402
from caption_aug.training.checks import random_models  # noqa: E402
from caption_aug.training.joint import step as joint_step_lib  # noqa: E402
from configs import shapes  # noqa: E402
import results_file  # noqa: E402  (benchmarks/, the script's own folder)

_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per stage and strategy (after 5 warm-up "
                                           "steps that trace).")
_JOINT_STEPS = flags.DEFINE_integer("joint_steps", 3, "Timed joint iterations per strategy (after "
                                                     "one that traces).")
_STAGES = flags.DEFINE_list("stages", ["captioner", "lm", "encoder", "gan", "joint"],
                            "Stages to time.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/bench_distribute.json", "JSON output.")
WARM_UP = 5   # steps that trace and settle before the timed ones (the joint iteration: 1)


def stages(config, workdir: str) -> dict:
    """{stage: (build the step under the current strategy, returning its one-step function,
    count -> that many step inputs under the current strategy)}: the stages' batches as their
    trainers read them (epoch 0), the joint iteration's random ones."""
    prepared = prepare.prepare(config, workdir)
    tokenizer = prepared.tokenizer
    datasets = pipelines.Datasets(config, prepared.splits, tokenizer)
    cfg = config.captioner
    grounded = grounding.split_grounding(prepared.splits["train"], tokenizer, cfg.encoded_size,
                                         config.data.max_caption_tokens)
    lm_corpus = lm_trainer.load_corpus(config, workdir)

    def captioner():
        model = build_captioner(cfg, tokenizer.vocabulary_size,
                                config.pipeline.captioner_image_size)
        return captioner_trainer.CaptionerStep(cfg, model, config.max_consecutive_skips).train_step

    def gan():
        encoder = encoder_trainer.build_step(config, tokenizer.vocabulary_size).encoder
        conditioning = conditioning_lib.EncoderConditioning(
            encoder, config.pipeline.encoder_image_size, config.encoder.image_normalization)
        models = gan_factory.build_models(config.gan, config.pipeline.gan_image_size,
                                          tokenizer.vocabulary_size, config.seed,
                                          conditioning=conditioning)
        return gan_trainer.GanStep(config.gan, models, config.seed,
                                   config.max_consecutive_skips).train_step

    offline = random_models.offline_copy(config)
    vocabulary = offline.tokenizer.vocab_size

    def joint():
        step = joint_step_lib.JointStep(offline, *random_models.build(offline, vocabulary))
        return lambda batches: step(batches, with_hypergradient=True)

    def distributed(dataset):
        return lambda count: list(distribute.distribute_batches(dataset.take(count)))

    return {
        "captioner": (captioner, distributed(
            captioner_trainer.train_batches(config, datasets, 0, grounded))),
        "lm": (lambda: lm_trainer.build_step(config, lm_corpus).train_step, distributed(
            lm_trainer.train_batches(config, lm_trainer.corpus_datasets(config, lm_corpus), 0))),
        "encoder": (lambda: encoder_trainer.build_step(config, tokenizer.vocabulary_size).train_step,
                    distributed(encoder_trainer.train_batches(config, datasets, 0))),
        "gan": (gan, distributed(gan_trainer.training_batches(config, datasets))),
        # global batches: the joint step splits them across the replicas itself
        "joint": (joint, lambda count: [random_models.batches(offline, vocabulary, seed)
                                        for seed in range(count)]),
    }


def steps_per_second(strategy, build, inputs, steps: int, warm_up: int) -> float:
    """Steps/s of a step built under `strategy` over `steps` step inputs (`inputs(count)`), read
    into memory first (as the strategy splits them) so that only the steps are timed, after
    `warm_up` steps that trace."""
    with strategy.scope():
        run = build()
        batches = inputs(warm_up + steps)
        for batch in batches[:warm_up]:
            run(batch)
        start = time.perf_counter()
        for batch in batches[warm_up:]:
            figures = run(batch)
        [float(value) for value in tf.nest.flatten(figures)]  # waits for the last step
    return steps / (time.perf_counter() - start)


def main(_):
    config = shapes.get_config()
    strategies = {"default": tf.distribute.get_strategy(),
                  "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
    results = {"steps": _STEPS.value, "joint_steps": _JOINT_STEPS.value,
               "batch_size": config.pipeline.batch_size,
               "gan_batch_size": config.gan.batch_size,
               "cpu_count": os.cpu_count(), "stages": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for stage, (build, inputs) in stages(config, workdir).items():
            if stage not in _STAGES.value:
                continue
            steps, warm_up = (_JOINT_STEPS.value, 1) if stage == "joint" else (_STEPS.value,
                                                                               WARM_UP)
            rates = {name: steps_per_second(strategy, build, inputs, steps, warm_up)
                     for name, strategy in strategies.items()}
            results["stages"][stage] = {
                **{f"{name}_steps_per_s": round(rate, 3) for name, rate in rates.items()},
                "mirrored_over_default": round(rates["mirrored"] / rates["default"], 3)}
            print(stage, json.dumps(results["stages"][stage]), flush=True)
    results_file.write(_OUT.value, results)


if __name__ == "__main__":
    app.run(main)
