"""The study runner's bookkeeping without running anything: which settings study.json lists while
a study runs, and `study.only`."""

import pytest

from caption_aug.study import plan
from caption_aug.study import runner
from caption_aug.workdir import metrics as metrics_lib
from configs import shapes_study


def test_study_json_lists_the_settings_and_seeds_that_have_started(tmp_path):
    config = shapes_study.get_config("quick")
    settings = plan.settings(config)
    assert runner.collect(str(tmp_path), settings) == {"settings": {}}
    record = {"warmup": {}, "arms": {}, "pending_arms": ["full"]}
    for seed in (1, 10):   # 10: a seed of another invocation (--config.study.seeds=(10,))
        metrics_lib.write_json(
            str(tmp_path / settings[1].name / f"seed_{seed}" / runner.RUN_RECORD), record)
    study = runner.collect(str(tmp_path), settings)
    assert list(study["settings"]) == [settings[1].name]
    assert list(study["settings"][settings[1].name]["seeds"].items()) == [("1", record),
                                                                          ("10", record)]
    assert not runner._finished(str(tmp_path), settings[1], 1)


def test_only_runs_the_named_settings_and_names_the_plans_on_a_typo():
    config = shapes_study.get_config("quick")
    settings = plan.settings(config)
    assert runner.selected(config, settings) == settings
    config.study.only = (settings[-1].name,)
    assert runner.selected(config, settings) == [settings[-1]]
    config.study.only = ("corrupted",)
    with pytest.raises(ValueError, match="study.only=.*expected settings among"):
        runner.selected(config, settings)
