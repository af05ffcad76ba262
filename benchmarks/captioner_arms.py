"""The captioner arms of bench_captioner_curve.py (described there): `config.captioner` overrides
by name, shared with probe_relations.py, which rebuilds a captioner as its arm trained it."""

ARMS = {
    "default": {},
    "by_all_true": {"select_by": "all_true"},
    "shapes_only": {"pretrain_object_steps": 0},
    "encoder_lr1e-4": {"encoder_lr": 1e-4},
    "plain": {"small_cnn_convs_per_block": 1, "pretrain_steps": 0, "pretrain_object_steps": 0},
    "pretrain800": {"pretrain_steps": 800},
    "pretrain3200": {"pretrain_steps": 3200},
    "coverage": {"attention_coverage": True},
    "alpha_c0": {"alpha_c": 0.0},
    "supervised": {"attention_supervision": 1.0},
    "supervised_positions": {"attention_supervision": 1.0, "position_channels": True},
    "supervised_relation_head": {"attention_supervision": 1.0, "position_channels": True,
                                 "relation_head": True},
    "supervised_relation_head_deep_output": {"attention_supervision": 1.0,
                                             "position_channels": True, "relation_head": True,
                                             "deep_output": True},
}
