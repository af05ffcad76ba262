"""The default run with one level of the method switched off, so a report can separate what each
contributes. Pick the variant after a colon:

  python train_main.py --config=configs/ablation.py:no_synthetic --workdir=runs/ablation_no_synthetic
  (variants: no_synthetic, and the study's arms a_frozen, b_frozen, first_order,
  plain_augmentation, synthetic_only: caption_aug/study/plan.py says what each switches)
"""

from caption_aug.study import plan
from configs import shapes

VARIANTS = {
    "no_synthetic": dict(synthetic_weight=0.0),        # lambda = 0: real data only
    **{arm: switches for arm, switches in plan.ARMS.items() if switches},
}


def get_config(variant: str = "no_synthetic"):
    if variant not in VARIANTS:
        raise ValueError(f"unknown ablation {variant!r}; expected one of {sorted(VARIANTS)}")
    config = shapes.get_config()
    config.joint.update(VARIANTS[variant])
    return config
