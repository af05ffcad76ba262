"""Every shipped config is valid; the paper configs carry the paper's settings and name the data
they miss; shapes_long ships a discriminator of its GAN's size (which the joint phase refuses);
the ablation variants each switch off one level; a value of the wrong type (in a file or on the
command line) fails validation naming its key."""

import glob
import importlib
import os
import re

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from caption_aug import config_schema
from caption_aug.models.stage2gan import discriminator
from caption_aug.training import gan_trainer, run_all
from caption_aug.training.joint import trainer as joint_trainer
from configs import ablation, coco_karpathy, flickr8k, shapes_long
from tests.conftest import REPO_ROOT

_CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO_ROOT, "configs", "*.py"))
                  if not p.endswith("__init__.py"))


@pytest.mark.parametrize("name", _CONFIGS)
def test_every_config_validates_without_its_data(name):
    config_schema.validate(importlib.import_module(f"configs.{name}").get_config(),
                           check_data_paths=False)


@pytest.mark.parametrize("module", [coco_karpathy, flickr8k])
def test_paper_configs_carry_the_paper_settings_and_name_their_missing_data(module):
    config = module.get_config()
    assert config.captioner.backbone == "resnet101" and config.pipeline.captioner_image_size == 256
    assert tuple(config.captioner.fine_tune_stages) == ("conv3", "conv4", "conv5")
    assert config.lm.preset == config.tokenizer.source == "hf://distilbert/distilgpt2"
    assert (config.gan.generator_lr, config.gan.discriminator_lr,
            config.gan.generator_steps) == (1e-4, 1e-5, 5)
    assert (config.lm.generation.sampler, config.lm.generation.num_beams) == ("beam", 2)
    assert config.lm.generation.temperature == 1.0
    with pytest.raises(ValueError, match="data.karpathy"):
        config_schema.validate(config)


def test_shapes_long_trains_its_shipped_discriminator_at_the_resolution_that_shows_shape(
        tmp_path):
    config = shapes_long.get_config()
    size = config.pipeline.gan_image_size
    assert size == config.pipeline.encoder_image_size == 64
    architecture = gan_trainer.load_architecture(config.gan.derived_architecture)
    assert len(architecture) == len(discriminator.edge_strides(size))
    for mode in (run_all, joint_trainer):  # the joint phase needs the supernet: it says so at once
        with pytest.raises(ValueError, match="gan.derived_architecture=.*needs the supernet"):
            mode.run_mode(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_ablations_switch_off_one_level_each():
    default = ablation.shapes.get_config().joint
    changed = {}
    for variant in ablation.VARIANTS:
        joint = ablation.get_config(variant).joint
        changed[variant] = {k for k in default if joint[k] != default[k]}
    assert changed == {"no_synthetic": {"synthetic_weight"}, "a_frozen": {"update_caption_weights"},
                       "b_frozen": {"update_architecture"}, "first_order": {"hypergradient"},
                       "plain_augmentation": {"update_caption_weights", "update_architecture",
                                              "update_lm_and_gan"},
                       "synthetic_only": {"real_weight"}}
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation.get_config("no_such")


def _with(key: str, value):
    """The default config with `key` set to `value` of any type (ml_collections' own type check
    stops most wrong types at assignment; validate must catch those that pass it, too)."""
    config = ml_collections.ConfigDict(config_schema.base_config().to_dict(), type_safe=False)
    parent, _, leaf = key.rpartition(".")
    (config[parent] if parent else config)[leaf] = value
    return config


@pytest.mark.parametrize("key, value, expected", [
    ("pipeline.bucket_boundaries", ("(12,x)",), "a tuple of ints"),   # --config...='(12,x)'
    ("captioner.small_cnn_filters", ("abc",), "a tuple of ints"),     # --config...=abc
    ("captioner.fine_tune_stages", (3, 4), "a tuple of strings"),
    ("pipeline.bucket_boundaries", 12, "a tuple of ints"),
    ("captioner.epochs", True, "an int"),                             # a bool is not an int
    ("captioner.epochs", 2.5, "an int"),
    ("captioner.dropout", "0.5", "a number"),
    ("captioner.jit_compile", 0, "a bool"),
    ("data.source", 3, "a string"),
    ("captioner.small_cnn_filters", (), "positive widths"),
    ("captioner.small_cnn_filters", (32, 0), "positive widths"),
    ("captioner.small_cnn_stem", -1, ">= 0 (0: no stem)"),
    ("captioner.small_cnn_convs_per_block", 0, ">= 1"),
    ("captioner.small_cnn_residual", 1, "a bool"),
    ("captioner.pretrain_steps", -1, ">= 0"),
    ("captioner.select_by", "cider", "one of ('all_true', 'bleu_4')"),
    ("captioner.attention_supervision", -1.0, ">= 0"),
    ("captioner.attention_coverage", 1, "a bool"),
    ("captioner.decoder", "gru", "one of ('lstm_attention', 'transformer')"),
    ("joint.captioner_lr", -1e-4, ">= 0 (0: the captioner's own rates)"),
    ("captioner.transformer.hidden_dim", 30, "a multiple of captioner.transformer.num_heads (4)"),
])
def test_a_bad_value_fails_naming_the_key_and_what_was_expected(key, value, expected):
    with pytest.raises(ValueError, match=re.escape(f"config key {key}={value!r} is invalid: "
                                                   f"expected {expected}")):
        config_schema.validate(_with(key, value))


def test_encoder_pretraining_on_a_dataset_without_scene_metadata_fails_naming_the_key():
    with pytest.raises(ValueError, match=re.escape(
            "config key captioner.pretrain_steps=1600 is invalid: expected 0 unless data.source "
            "is caption_shapes")):
        config_schema.validate(_with("data.source", "coco"), check_data_paths=False)


def test_a_relation_head_without_position_channels_fails_naming_the_key():
    with pytest.raises(ValueError, match=re.escape(
            "config key captioner.relation_head=True is invalid: expected False unless "
            "captioner.position_channels (it reads them)")):
        config_schema.validate(_with("captioner.position_channels", False))


def test_a_transformer_with_fewer_positions_than_a_caption_fails_naming_the_key():
    config = _with("captioner.decoder", "transformer")
    config.captioner.transformer.max_length = 20
    with pytest.raises(ValueError, match=re.escape(
            "config key captioner.transformer.max_length=20 is invalid: expected >= "
            "data.max_caption_tokens and captioner.max_decode_length (40)")):
        config_schema.validate(config)


def test_selection_by_true_captions_on_a_dataset_without_scene_metadata_fails_naming_the_key():
    config = _with("data.source", "coco")
    config_schema.scene_free_captioner(config.captioner)
    config.captioner.select_by = "all_true"
    with pytest.raises(ValueError, match=re.escape(
            "config key captioner.select_by='all_true' is invalid: expected \"bleu_4\" unless")):
        config_schema.validate(config, check_data_paths=False)


def test_supervised_attention_on_a_dataset_without_scene_metadata_fails_naming_the_key():
    config = _with("data.source", "coco")
    config_schema.scene_free_captioner(config.captioner)
    config.captioner.attention_supervision = 1.0
    with pytest.raises(ValueError, match=re.escape(
            "config key captioner.attention_supervision=1.0 is invalid: expected 0 unless")):
        config_schema.validate(config, check_data_paths=False)


def test_an_int_is_a_number_and_a_list_is_a_tuple():
    config_schema.validate(_with("captioner.dropout", 0))
    config_schema.validate(_with("pipeline.bucket_boundaries", [10, 20]))
    config_schema.validate(_with("captioner.fine_tune_stages", []))


def test_unknown_missing_and_non_dict_values_fail_naming_them():
    config = _with("captioner.beam", 3)
    with pytest.raises(ValueError, match="unknown config key: captioner.beam"):
        config_schema.validate(config)
    del config.captioner["beam"], config.captioner["epochs"]
    with pytest.raises(ValueError, match="config key captioner.epochs is missing"):
        config_schema.validate(config)
    with pytest.raises(ValueError, match="config key gan is int, not a ConfigDict"):
        config_schema.validate(_with("gan", 3))
    with pytest.raises(ValueError, match="config is NoneType, not a ConfigDict"):
        config_schema.validate(None)


def _parsed(*overrides):
    """configs/shapes.py with `--config.KEY=VALUE` overrides, parsed as train_main parses them."""
    values = flags.FlagValues()
    argv = ["train_main.py", f"--config={os.path.join(REPO_ROOT, 'configs', 'shapes.py')}",
            *overrides]
    config_flags.DEFINE_config_file("config", flag_values=values, sys_argv=argv)
    values(argv)
    return values.config


def test_command_line_overrides_are_type_checked():
    config = _parsed("--config.pipeline.bucket_boundaries=(10,20)",
                     "--config.captioner.fine_tune_stages=('conv4','conv5')",
                     "--config.captioner.dropout=0")
    config_schema.validate(config)
    assert tuple(config.pipeline.bucket_boundaries) == (10, 20)
    assert tuple(config.captioner.fine_tune_stages) == ("conv4", "conv5")
    for flag, key in [("--config.pipeline.bucket_boundaries=(12,x)", "pipeline.bucket_boundaries"),
                      ("--config.captioner.small_cnn_filters=abc", "captioner.small_cnn_filters")]:
        with pytest.raises(ValueError, match=re.escape(f"config key {key}=")):
            config_schema.validate(_parsed(flag))


def test_the_joint_captioner_takes_joint_captioner_lr_when_set_and_keeps_a_frozen_encoder():
    config = config_schema.base_config()
    config.captioner.update(dict(encoder_lr=4e-4, decoder_lr=5e-4))
    assert (config_schema.joint_captioner(config).encoder_lr,
            config_schema.joint_captioner(config).decoder_lr) == (4e-4, 5e-4)
    config.joint.captioner_lr = 1e-4
    joint = config_schema.joint_captioner(config)
    assert (joint.encoder_lr, joint.decoder_lr, config.captioner.decoder_lr) == (1e-4, 1e-4, 5e-4)
    config.captioner.encoder_lr = 0.0
    assert config_schema.joint_captioner(config).encoder_lr == 0.0
