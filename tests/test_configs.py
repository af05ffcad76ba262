"""Every shipped config is valid; the paper configs carry the paper's settings and name the data
they miss; the ablation variants each switch off one level."""

import glob
import importlib
import os

import pytest

from caption_aug import config_schema
from configs import ablation, coco_karpathy, flickr8k
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
    assert config.lm.generation.num_beams == 2
    with pytest.raises(ValueError, match="data.karpathy"):
        config_schema.validate(config)


def test_ablations_switch_off_one_level_each():
    default = ablation.shapes.get_config().joint
    changed = {}
    for variant in ablation.VARIANTS:
        joint = ablation.get_config(variant).joint
        changed[variant] = {k for k in default if joint[k] != default[k]}
    assert changed == {"no_synthetic": {"synthetic_weight"}, "a_frozen": {"update_caption_weights"},
                       "b_frozen": {"update_architecture"}, "first_order": {"hypergradient"}}
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation.get_config("no_such")
