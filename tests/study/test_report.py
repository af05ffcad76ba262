"""The study's report from a study.json: paired differences against the control with their 95%
intervals, the per-setting tables, the corrupted-caption AUC and the novel/seen split."""

import json

import numpy as np
import pytest

from caption_aug.study import report
from configs import shapes_study


def _test_metrics(bleu_4, all_true, novel=None):
    beam = {"Bleu_1": 0.8, "Bleu_2": 0.7, "Bleu_3": 0.6, "Bleu_4": bleu_4,
            "semantic": {"all_true": all_true, "precision": 0.9}}
    if novel is not None:
        beam["semantic"]["by_novelty"] = {"novel": {"all_true": novel, "precision": 0.8},
                                          "seen": {"all_true": all_true, "precision": 0.9}}
    return {"beam_sizes": {"1": beam, "3": beam}}


def _joint(auc=0.5):
    return {"caption_weights": {"highest": [{"weight": 0.95, "caption": "a red circle"}],
                                "lowest": [{"weight": 0.2, "caption": "circle a red"}],
                                "mean": 0.9, "std": 0.05, "min": 0.2, "max": 0.95},
            "architecture": {"derived": {"architecture": [["sep_conv_3x3"]]},
                             "softmax": [[0.3, 0.2, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]]},
            "corrupted_captions": {"auc": auc, "auc_moved": auc, "moved": 10, "clean": 8,
                                   "corrupted": 2, "mean_weight_clean": 0.9,
                                   "mean_weight_corrupted": 0.8},
            "validation_loss_by_iteration": [[1, 2.0], [2, 1.9]]}


def _study(full_gain, noise, holdout="", corrupt_fraction=0.0):
    seeds = {}
    for seed in range(3):
        control = 0.40 + 0.05 * seed
        seeds[str(seed)] = {
            "warmup": {"test": _test_metrics(0.35, 0.5), "seconds": 1.0},
            "arms": {"control": {"test": _test_metrics(control, 0.5, 0.1), "seconds": 2.0},
                     "full": {"test": _test_metrics(control + full_gain + noise[seed], 0.5, 0.2),
                              "joint": _joint(0.8 + 0.01 * seed), "seconds": 4.0 + seed}}}
    return {"train_size": 250, "holdout": holdout, "corrupt_fraction": corrupt_fraction,
            "arms": ["control", "full"], "seeds": seeds}


def test_paired_interval_uses_students_t_and_verdict_needs_the_interval_off_zero():
    mean, half = report.paired_interval([0.01, 0.02, 0.03])
    assert mean == pytest.approx(0.02)
    assert half == pytest.approx(4.303 * 0.01 / np.sqrt(3))
    assert report.verdict(0.02, 0.01) == "higher than the control"
    assert report.verdict(-0.02, 0.01) == "lower than the control"
    assert report.verdict(0.02, 0.03) == "no clear difference"
    mean, half = report.paired_interval([2 / 150 + 0.08 - 0.08, 2 / 150, 0.1 - (0.1 - 2 / 150)])
    assert report.verdict(mean, half) == "the same in every seed: no spread, no test"
    assert report.t_quantile(12) == report.T_975[10]   # rounded down to a listed df: wider


def test_comparisons_find_a_consistent_gain_and_no_difference_in_noise():
    study = {"settings": {"consistent": _study(0.05, [0.0, 0.002, -0.002]),
                          "noisy": _study(0.0, [0.05, -0.05, 0.001]),
                          "harmful": _study(-0.05, [0.0, 0.001, -0.001])}}
    rows = {(r["setting"], r["metric"]): r for r in report.comparisons(study)}
    assert rows[("consistent", "BLEU-4")]["verdict"] == "higher than the control"
    assert rows[("consistent", "BLEU-4")]["difference"] == pytest.approx(0.05)
    assert rows[("noisy", "BLEU-4")]["verdict"] == "no clear difference"
    assert rows[("harmful", "BLEU-4")]["verdict"] == "lower than the control"
    assert rows[("consistent", "all true")]["difference"] == 0.0
    assert all(r["seeds"] == 3 and r["beam"] == 3 for r in rows.values())


def test_report_has_every_setting_the_auc_and_the_novel_split(tmp_path):
    study = {"settings": {
        "train_250": _study(0.05, [0, 0, 0]),
        "compositional_250": _study(0.0, [0.01, -0.01, 0], holdout="red circle"),
        "corrupted_250": _study(0.0, [0.01, -0.01, 0], corrupt_fraction=0.2)}}
    (tmp_path / "study.json").write_text(json.dumps(study))
    (tmp_path / "config.json").write_text(shapes_study.get_config().to_json())
    path = report.write_report(str(tmp_path), study)
    text = open(path).read()
    assert "Stages: captioner 20 epochs at learning rate 0.001 after 200 + 100" in text
    for heading in ("## Every arm against the control", "## Setting `train_250`",
                    "## Setting `compositional_250`", "all true, novel scenes",
                    "## Setting `corrupted_250`", "AUC of a_i", "0.810 ± 0.010",
                    "## Beam sizes", "sep_conv_3x3", "circle a red"):
        assert heading in text, heading
    assert "| full | 0.200 ± 0.000 | 0.500 ± 0.000 |" in text   # novel vs seen, full arm
    # softmax(B) against uniform, a_i's spread
    assert "| 0.3000 (uniform 0.2500) | 0.0500 |" in text
    assert "mean 0.9000, std 0.0500, from 0.2000 to 0.9500" in text
    rows = [line for line in text.splitlines() if line.startswith(("| warm-up", "| full |"))]
    assert rows[0].endswith("| 1 |") and rows[1].endswith("| 5 |")   # mean seconds of work
    assert (tmp_path / "figures" / "differences.png").stat().st_size > 1000
    assert (tmp_path / "figures" / "validation_train_250.png").exists()


def test_one_seed_gives_values_without_spread_or_interval(tmp_path):
    setting = _study(0.05, [0, 0, 0])
    setting["seeds"] = {"0": {**setting["seeds"]["0"], "pending_arms": ["b_frozen"]}}
    text = open(report.write_report(str(tmp_path), {"settings": {"train_250": setting}})).read()
    assert "Seed 0 has not run its arms b_frozen yet" in text
    assert "| train_250 | full | BLEU-4 | +0.050 | 1 | one seed: no interval |" in text
    assert "| full | 0.800 (one seed) |" in text and "± nan" not in text
