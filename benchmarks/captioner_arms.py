"""The captioner arms of bench_captioner_curve.py (described there): `config.captioner` overrides
by name, shared with probe_relations.py, which rebuilds a captioner as its arm trained it."""

from caption_aug.config_schema import PAPER_DECODER

# The default had the paper's decoder until stop 32: the arms measured with it keep it.
ARMS = {
    "default": {},
    "unsupervised": PAPER_DECODER,
    "by_all_true": {**PAPER_DECODER, "select_by": "all_true"},
    "shapes_only": {**PAPER_DECODER, "pretrain_object_steps": 0},
    "encoder_lr1e-4": {**PAPER_DECODER, "encoder_lr": 1e-4},
    "plain": {**PAPER_DECODER, "small_cnn_convs_per_block": 1, "pretrain_steps": 0,
              "pretrain_object_steps": 0},
    "pretrain800": {**PAPER_DECODER, "pretrain_steps": 800},
    "pretrain3200": {**PAPER_DECODER, "pretrain_steps": 3200},
    "coverage": {**PAPER_DECODER, "attention_coverage": True},
    "alpha_c0": {**PAPER_DECODER, "alpha_c": 0.0},
    "supervised": {**PAPER_DECODER, "attention_supervision": 1.0},
    "supervised_positions": {**PAPER_DECODER, "attention_supervision": 1.0,
                             "position_channels": True},
    "supervised_relation_head": {"deep_output": False},
    "no_relation_head": {"relation_head": False},
}
