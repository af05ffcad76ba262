"""About how long the rest of a `--mode=all` run should take, for its per-phase progress line.

A phase's own progress line times it from its own rate; the phases still to come have no rate
yet, so they are estimated from the default run's measured seconds per phase, scaled by how much
more work this config asks of each (its one or two dominant knobs: epochs x train captions,
iterations, steps, image area) and by this run's pace so far (its finished phases' seconds against
their estimates). Rough by design: backbones and model widths are not modelled, and the pace
corrects only what the phases before have shown.
"""

from typing import Dict, Iterable

# Seconds of each phase of a default run (`python train_main.py --workdir=...`, seed 0) on 2
# otherwise quiet cores here, stop 34 (1,547 s of work in all), and the settings it ran with.
DEFAULT_RUN_SECONDS = {
    "data": 13.0, "encoder": 44.0, "lm": 74.0, "gan": 372.0, "captioner_warmup": 828.0,
    "captioner_before_joint": 16.0, "joint": 154.0, "captioner_after_joint": 17.0,
    "captioner_control": 28.0, "export": 2.0}
DEFAULT_RUN_SETTINGS = {
    "train_captions": 20000, "test_images": 500, "eval_beam_sizes": 3,
    "encoder.epochs": 1, "pipeline.encoder_image_size": 32, "lm.epochs": 2,
    "gan.iterations": 600, "attribute_classifier.steps": 800, "pipeline.gan_image_size": 32,
    "captioner.epochs": 4, "captioner_pretraining_steps": 1600 + 800,  # single-object + pairs
    "pipeline.captioner_image_size": 64, "joint.iterations": 20}
# Shares of a phase's seconds in that run spent on a part that grows with a knob of its own.
CLASSIFIER_SHARE_OF_GAN = 107.0 / 372.0            # the attribute classifier's steps
PRETRAINING_SHARE_OF_CAPTIONER = 303.0 / 828.0     # the captioner encoder's pretraining steps


def work_ratios(config, train_captions: int, test_images: int) -> Dict[str, float]:
    """How many times the measured default run's work each phase of `config` asks for, roughly."""
    measured = DEFAULT_RUN_SETTINGS

    def ratio(key: str) -> float:
        section, name = key.split(".")
        return config[section][name] / measured[key]

    def area(key: str) -> float:
        return ratio(key) ** 2

    def blend(share: float, part: float, rest: float) -> float:
        return share * part + (1.0 - share) * rest

    captions = train_captions / measured["train_captions"]
    cap = config.captioner
    pretraining = ((cap.pretrain_steps + cap.pretrain_object_steps)
                   / measured["captioner_pretraining_steps"])
    joint = ratio("joint.iterations")
    evaluation = (test_images / measured["test_images"] * len(cap.eval_beam_sizes)
                  / measured["eval_beam_sizes"])
    return {"data": captions,
            "encoder": captions * ratio("encoder.epochs") * area("pipeline.encoder_image_size"),
            "lm": captions * ratio("lm.epochs"),
            "gan": area("pipeline.gan_image_size") * blend(
                CLASSIFIER_SHARE_OF_GAN, ratio("attribute_classifier.steps"),
                ratio("gan.iterations")),
            "captioner_warmup": area("pipeline.captioner_image_size") * blend(
                PRETRAINING_SHARE_OF_CAPTIONER, pretraining,
                captions * ratio("captioner.epochs")),
            "captioner_before_joint": evaluation, "joint": joint,
            "captioner_after_joint": evaluation,
            "captioner_control": (evaluation + joint) / 2,   # its updates, then an evaluation
            "export": 1.0}


def remaining_seconds(config, train_captions: int, test_images: int,
                      done_seconds: Dict[str, float], to_come: Iterable[str]) -> float:
    """Estimated seconds of the phases `to_come`, at the pace of those in `done_seconds` (the
    data phase aside; 1 before any other has finished)."""
    ratios = work_ratios(config, train_captions, test_images)
    expected = {name: DEFAULT_RUN_SECONDS[name] * ratios[name] for name in ratios}
    # the data phase's seconds are mostly start-up that does not scale with its captions (about
    # 8 s for 1,250 as for 20,000): as a pace it made a small run's rest read 10x too long
    done = [name for name in done_seconds if name in expected and name != "data"]
    done_expected = sum(expected[name] for name in done)
    pace = sum(done_seconds[name] for name in done) / done_expected if done_expected > 0 else 1.0
    return pace * sum(expected[name] for name in to_come)
