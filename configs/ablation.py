"""The default run with one level of the method switched off, so a report can separate what each
contributes. Pick the variant after a colon:

  python train_main.py --config=configs/ablation.py:no_synthetic --workdir=runs/ablation_no_synthetic
  (variants: no_synthetic, a_frozen, b_frozen, first_order)
"""

from configs import shapes

VARIANTS = {
    "no_synthetic": dict(synthetic_weight=0.0),        # lambda = 0: real data only
    "a_frozen": dict(update_caption_weights=False),    # caption weights stay at their start
    "b_frozen": dict(update_architecture=False),       # the discriminator architecture stays
    "first_order": dict(hypergradient="first_order"),  # v at W: no virtual captioner step
}


def get_config(variant: str = "no_synthetic"):
    if variant not in VARIANTS:
        raise ValueError(f"unknown ablation {variant!r}; expected one of {sorted(VARIANTS)}")
    config = shapes.get_config()
    config.joint.update(VARIANTS[variant])
    return config
