"""benchmarks/corruption_signal.py, the figures of benchmarks/hypergradient_signal.py: a
hypergradient that raises exactly the corrupted captions' loss scores 1 per visit and summed, its
negation 0, and noise about 0.5, the summed figure nearing the truth as visits add up."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import corruption_signal  # noqa: E402

NUM_CAPTIONS, BATCH = 200, 20
CORRUPTED = list(range(0, NUM_CAPTIONS, 5))   # a fifth


def _draws(count: int, seed: int = 0):
    """LM batches as the joint phase draws them: passes over every caption in shuffled order."""
    rng = np.random.default_rng(seed)
    passes = -(-count * BATCH // NUM_CAPTIONS)
    order = np.concatenate([rng.permutation(NUM_CAPTIONS) for _ in range(passes)])
    return [order[k * BATCH:(k + 1) * BATCH] for k in range(count)]


def _gradient(indices, values):
    full = np.zeros(NUM_CAPTIONS)
    full[indices] = values
    return full


def _run(draws, hypergradient):
    is_corrupted = np.isin(np.arange(NUM_CAPTIONS), CORRUPTED)
    signal = corruption_signal.Signal(NUM_CAPTIONS, CORRUPTED, ["oracle", "negated", "weak"])
    for indices in draws:
        signal.add(indices, {name: _gradient(indices, function(is_corrupted[indices]))
                             for name, function in hypergradient.items()})
    signal.accumulate(len(draws))
    return signal


def test_an_oracle_scores_one_its_negation_zero_and_a_weak_signal_grows_with_visits():
    rng = np.random.default_rng(1)
    hypergradients = {"oracle": lambda bad: np.where(bad, 1.0, -1.0),
                      "negated": lambda bad: np.where(bad, -1.0, 1.0),
                      "weak": lambda bad: 0.3 * bad + rng.normal(size=len(bad))}
    one_pass = _run(_draws(NUM_CAPTIONS // BATCH), hypergradients)
    summary = one_pass.summary()
    assert summary["per_visit"]["oracle"]["mean_auc"] == 1.0
    assert summary["per_visit"]["negated"]["mean_auc"] == 0.0
    assert summary["accumulated"][-1]["oracle"] == 1.0
    assert summary["accumulated"][-1]["negated"] == 0.0
    assert summary["accumulated"][-1]["mean_visits_of_seen"] == 1.0
    assert summary["per_visit"]["weak"]["draws"] == NUM_CAPTIONS // BATCH

    weak_one_pass = summary["accumulated"][-1]["weak"]
    weak_ten_passes = _run(_draws(10 * NUM_CAPTIONS // BATCH), hypergradients).accumulated[-1]
    assert weak_ten_passes["mean_visits_of_seen"] == 10.0
    assert weak_ten_passes["weak"] > max(weak_one_pass, 0.7)


def test_noise_scores_about_chance_and_its_interval_holds_one_half():
    rng = np.random.default_rng(2)
    summary = _run(_draws(100), {"oracle": lambda bad: rng.normal(size=len(bad)),
                                 "negated": lambda bad: rng.normal(size=len(bad)),
                                 "weak": lambda bad: rng.normal(size=len(bad))}).summary()
    for figures in summary["per_visit"].values():
        assert abs(figures["mean_auc"] - 0.5) < figures["half_width_95"] * 1.5
        assert figures["half_width_95"] < 0.1
    for method in ("oracle", "negated", "weak"):
        assert abs(summary["accumulated"][-1][method] - 0.5) < 0.15


def test_mean_pairwise_cosine_is_one_for_one_direction_and_near_zero_for_random_ones():
    direction = np.array([1.0, -2.0, 0.5])
    assert np.isclose(corruption_signal.mean_pairwise_cosine([direction, 3 * direction]), 1.0)
    assert np.isclose(corruption_signal.mean_pairwise_cosine([direction, -direction]), -1.0)
    assert np.isclose(corruption_signal.mean_pairwise_cosine(np.eye(3)), 0.0)
    random = np.random.default_rng(3).normal(size=(40, 32))
    assert abs(corruption_signal.mean_pairwise_cosine(random)) < 0.05
