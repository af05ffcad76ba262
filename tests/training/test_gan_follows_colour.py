"""The GAN recipe of the default config draws the colour its caption states, and images that
differ with the noise: a short run on real caption_shapes data, scored by the attribute
classifier against chance and by the diversity ratio.

One seed, as a regression check of the recipe (a seed costs about 6 minutes alone on 2 cores,
8 beside the suite's other worker). Until 2026-12-06 this test ran seeds 0 and 1: colour 0.626 /
0.544 against chance 0.190 when the bar was set; seed 0 alone scored 0.649 on 2026-12-06."""

import pytest

from caption_aug import config_schema
from caption_aug.training import encoder_trainer
from caption_aug.training import gan_trainer


def _config(seed: int):
    config = config_schema.base_config()
    config.seed = seed
    config.data.caption_shapes.update(dict(train_size=1500, validation_size=20, test_size=200,
                                           resolution=32))
    # 300 iterations: at 200, seed 0 scored colour 0.390 against chance 0.190 on one machine
    # (the bar below to the last digit); at 300, 0.626 / 0.544 for seeds 0 / 1
    config.gan.update(dict(iterations=300, summary_every=300, checkpoint_every=300))
    config.attribute_classifier.steps = 600
    config_schema.validate(config)
    return config


@pytest.mark.slow
def test_generated_images_show_the_stated_colour_and_vary_with_the_noise(tmp_path):
    config, workdir = _config(0), str(tmp_path)
    encoder_trainer.run_mode(config, workdir)
    scores = gan_trainer.run_mode(config, workdir)["conditional_accuracy"]
    colour = scores["colour"]
    assert colour["ceiling"] > 0.9, colour
    assert colour["accuracy"] > colour["chance"] + 0.2, colour
    # uses its noise: 0.27 (seed 0) / 0.24 (seed 1) with the mode-seeking term, 0.10 without
    assert scores["diversity"]["ratio"] > 0.15, scores["diversity"]
