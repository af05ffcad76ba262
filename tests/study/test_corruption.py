"""The corrupted-caption setting: which captions get shuffled, and the AUC that says whether the
caption weights push them down."""

import numpy as np
import pytest

from caption_aug.data import corruption


def test_corrupts_the_asked_share_by_shuffling_words_and_names_them():
    captions = [[f"a red circle above a blue square {k}", f"the blue square is below {k}"]
                for k in range(50)]
    corrupted, indices = corruption.corrupt_captions(captions, 0.2, seed=3)
    assert len(indices) == 20 and indices == sorted(set(indices))
    flat_before = [c for per in captions for c in per]
    flat_after = [c for per in corrupted for c in per]
    assert [len(per) for per in corrupted] == [2] * 50
    for k, (before, after) in enumerate(zip(flat_before, flat_after)):
        if k in indices:
            assert after != before and sorted(after.split()) == sorted(before.split())
        else:
            assert after == before
    assert corruption.corrupt_captions(captions, 0.2, seed=3) == (corrupted, indices)
    assert corruption.corrupt_captions(captions, 0.2, seed=4)[1] != indices


def test_auc_is_one_when_corrupted_captions_weigh_least_and_half_when_weights_ignore_them():
    weights = np.linspace(0.1, 0.9, 10)
    assert corruption.separation_auc(weights, [0, 1, 2]) == 1.0
    assert corruption.separation_auc(weights, [7, 8, 9]) == 0.0   # the known-bad direction
    assert corruption.separation_auc(np.full(10, 0.9), [0, 1]) == 0.5  # untouched weights: ties
    rng = np.random.default_rng(0)
    random_weights = rng.random(4000)
    assert abs(corruption.separation_auc(random_weights, rng.choice(4000, 800, replace=False))
               - 0.5) < 0.03
    # one inversion among 2 x 2 pairs
    assert corruption.separation_auc([0.1, 0.3, 0.2, 0.4], [0, 2]) == 1.0
    assert corruption.separation_auc([0.1, 0.3, 0.25, 0.2], [0, 2]) == 0.75
    with pytest.raises(ValueError, match="both clean and corrupted"):
        corruption.separation_auc(weights, [])


def test_joint_report_separates_moved_weights_from_untouched_ones():
    from caption_aug.training.joint import trainer
    initial = 0.9
    logits = np.full(10, np.log(initial / (1 - initial)))
    logits[[0, 1]] = -1.0         # two corrupted captions pushed down
    logits[[5, 6]] = 3.0          # two clean ones pushed up; the rest never in an LM batch
    report = trainer.corrupted_caption_report(logits, [0, 1, 2], initial)
    assert (report["corrupted"], report["clean"], report["moved"]) == (3, 7, 4)
    assert report["moved_corrupted"] == 2 and report["auc_moved"] == 1.0
    assert 0.5 < report["auc"] < 1.0    # the unmoved corrupted caption ties with unmoved clean
    assert report["mean_weight_corrupted"] < report["mean_weight_clean"]
