"""Where each stage keeps its files in a workdir: one folder per stage, the same layout for all.

    WORKDIR/<stage>/checkpoints/   what a rerun resumes from (every stage)
    WORKDIR/<stage>/best/          the best weights by validation, where a stage selects them
    WORKDIR/<stage>/metrics.json   the stage's figures
    WORKDIR/tensorboard/<stage>/   its TensorBoard events
"""

import os

ENCODER = "encoder"
LM = "lm"
GAN = "gan"
CAPTIONER = "captioner"
JOINT = "joint"
CONTROL = "captioner_control"

CHECKPOINTS = "checkpoints"
BEST = "best"

# The `--mode` that trains each stage, for the errors that ask for it.
TRAINED_BY = {ENCODER: "train_encoder", LM: "train_lm", GAN: "train_gan",
              CAPTIONER: "train_captioner", JOINT: "joint", CONTROL: "all"}


def stage_dir(workdir: str, stage: str) -> str:
    return os.path.join(workdir, stage)


def tensorboard_dir(workdir: str, stage: str) -> str:
    return os.path.join(workdir, "tensorboard", stage)


def checkpoint_dir(workdir: str, stage: str, kind: str = CHECKPOINTS) -> str:
    """WORKDIR/<stage>/checkpoints (kind CHECKPOINTS) or WORKDIR/<stage>/best (kind BEST)."""
    return os.path.join(workdir, stage, kind)
