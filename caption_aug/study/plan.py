"""What the study runs: its settings (data variants), the arms compared in each, and the config
of one (setting, seed, arm) run. Every arm of a setting and seed starts from the same warmed-up
stages and takes the same number of captioner updates on the same real batches."""

import copy
import dataclasses
from typing import Dict, Tuple

# The joint-phase switches of each arm. "control" (real pairs only, lambda = 0, A and B frozen)
# and "full" (the four-level framework) come from one `--mode=all` schedule: its control arm and
# its joint phase.
ARMS: Dict[str, dict] = {
    "control": {},
    "full": {},
    "a_frozen": dict(update_caption_weights=False),
    "b_frozen": dict(update_architecture=False),
    "first_order": dict(hypergradient="first_order"),
    "plain_augmentation": dict(update_caption_weights=False, update_architecture=False,
                               update_lm_and_gan=False),   # the warmed-up LM and GAN's pairs
    "synthetic_only": dict(real_weight=0.0),               # the paper's Figure 12
}
SCHEDULE_ARMS = ("control", "full")   # the two that `--mode=all` itself trains


@dataclasses.dataclass(frozen=True)
class Setting:
    """A data variant (train images, holdout, corrupted share of train captions), the joint
    phase's length, and the arms run on it."""
    name: str
    train_size: int
    arms: Tuple[str, ...]
    holdout: str = ""
    corrupt_fraction: float = 0.0
    joint_iterations: int = 0   # 0: the config's joint.iterations


def settings(config) -> list:
    """The study's settings in run order: every arm at the config's own train_size first, then
    control and full across `study.train_sizes`, the compositional and the corrupted setting."""
    study, size = config.study, config.data.caption_shapes.train_size
    unknown = [arm for arm in study.arms if arm not in ARMS]
    if unknown:
        raise ValueError(f"config key study.arms={tuple(study.arms)!r} is invalid: expected arms "
                         f"among {tuple(ARMS)}")
    if not study.seeds:
        raise ValueError("config key study.seeds=() is invalid: expected at least one seed")
    if study.parallel_runs < 1:
        raise ValueError(f"config key study.parallel_runs={study.parallel_runs} is invalid: "
                         "expected >= 1")
    if config.data.source != "caption_shapes":
        raise ValueError(f"config key data.source={config.data.source!r} is invalid: the study "
                         "needs caption_shapes (its scenes score the captions)")
    pair = SCHEDULE_ARMS
    out = [Setting(f"train_{size}", size, tuple(dict.fromkeys(("control", *study.arms))))]
    out += [Setting(f"train_{n}", n, pair) for n in study.train_sizes if n != size]
    if study.holdout:
        out.append(Setting(f"compositional_{size}", size, pair, holdout=study.holdout))
    if study.corrupt_fraction:
        out.append(Setting(f"corrupted_{size}", size, pair, corrupt_fraction=study.corrupt_fraction,
                           joint_iterations=study.corrupted_joint_iterations))
    return out


def run_config(config, setting: Setting, seed: int, arm: str):
    """The config of one run: `config` at `seed` with the setting's data and the arm's switches."""
    run = copy.deepcopy(config)
    run.seed = seed
    run.data.caption_shapes.train_size = setting.train_size
    run.data.caption_shapes.holdout = setting.holdout
    run.data.corrupt_fraction = setting.corrupt_fraction
    run.data.corrupt_seed = seed
    if setting.joint_iterations:
        run.joint.iterations = setting.joint_iterations
    run.joint.update(ARMS[arm])
    return run
