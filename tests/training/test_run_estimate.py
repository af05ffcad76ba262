"""The rest-of-run estimate of `--mode=all`'s phase lines: a measured default run's seconds,
scaled by this config's work and this run's pace."""

import pytest

from caption_aug import config_schema
from caption_aug.training import run_estimate
from caption_aug.training.run_estimate import DEFAULT_RUN_SECONDS, remaining_seconds

LATER = [name for name in DEFAULT_RUN_SECONDS if name != "data"]


def _measured_config():
    """base_config() with the settings of the run whose seconds are recorded."""
    config = config_schema.base_config()
    for key, value in run_estimate.DEFAULT_RUN_SETTINGS.items():
        if "." in key:                                  # a config key, e.g. "gan.iterations"
            section, name = key.split(".")
            config[section][name] = value
    return config


def _remaining(config, done=None, to_come=LATER, captions=20000, tests=500):
    done = {"data": DEFAULT_RUN_SECONDS["data"]} if done is None else done
    return remaining_seconds(config, captions, tests, done, to_come)


def test_the_measured_runs_settings_at_its_pace_give_its_seconds():
    expected = sum(DEFAULT_RUN_SECONDS[name] for name in LATER)
    assert _remaining(_measured_config()) == pytest.approx(expected)


def test_a_slower_machine_scales_the_rest_by_the_pace_of_the_finished_phases():
    done = {"data": 2 * DEFAULT_RUN_SECONDS["data"], "encoder": 2 * DEFAULT_RUN_SECONDS["encoder"]}
    to_come = LATER[1:]
    assert _remaining(_measured_config(), done, to_come) == pytest.approx(
        2 * sum(DEFAULT_RUN_SECONDS[name] for name in to_come))


def test_a_small_runs_data_phase_sets_no_pace():
    """Its start-up seconds (8 s for 1,250 captions, 13 s for 20,000) read as a pace of 10."""
    done = {"data": 8.0}
    assert _remaining(_measured_config(), done, captions=1250, to_come=["joint"]) == pytest.approx(
        DEFAULT_RUN_SECONDS["joint"])


def test_more_work_in_the_config_makes_a_phase_longer():
    config = _measured_config()
    config.gan.iterations *= 2
    config.attribute_classifier.steps *= 2
    config.pipeline.gan_image_size *= 2
    assert _remaining(config, to_come=["gan"]) == pytest.approx(8 * DEFAULT_RUN_SECONDS["gan"])
    config.captioner.pretrain_steps = config.captioner.pretrain_object_steps = 0
    assert _remaining(config, to_come=["captioner_warmup"]) == pytest.approx(
        (1 - run_estimate.PRETRAINING_SHARE_OF_CAPTIONER) * DEFAULT_RUN_SECONDS["captioner_warmup"])
    ratios = run_estimate.work_ratios(_measured_config(), 40000, 500)
    share = run_estimate.PRETRAINING_SHARE_OF_CAPTIONER  # pretraining does not grow with captions
    assert ratios["captioner_warmup"] == pytest.approx(share + 2 * (1 - share))
    assert ratios["lm"] == pytest.approx(2.0) and ratios["joint"] == 1.0


def test_phases_of_an_older_metrics_file_that_the_model_does_not_know_are_ignored():
    done = {"data": DEFAULT_RUN_SECONDS["data"], "retired_phase": 1000.0}
    assert _remaining(_measured_config(), done, ["export"]) == pytest.approx(
        DEFAULT_RUN_SECONDS["export"])
