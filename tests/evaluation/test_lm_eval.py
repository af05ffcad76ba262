"""Generated-caption metrics: distinct-n, novelty, self-BLEU, scene validity, the example table."""

import numpy as np
import pytest

from caption_aug.data.caption_shapes import sample_scene, write_captions
from caption_aug.evaluation import lm_eval


def test_distinct_n_counts_unique_ngrams():
    captions = ["a red circle", "a red star"]
    assert lm_eval.distinct_n(captions, 1) == pytest.approx(4 / 6)
    assert lm_eval.distinct_n(captions, 2) == pytest.approx(3 / 4)
    assert lm_eval.distinct_n(["a"], 2) == 0.0


def test_novelty_is_the_share_not_in_training():
    training = ["a red circle", "a  blue star"]
    assert lm_eval.novelty(["a red circle", "a blue star", "a green cross", "x"], training) == 0.5


def test_self_bleu_is_high_for_copies_and_low_for_unrelated_captions():
    copies = ["a man rides a horse on the beach"] * 4
    unrelated = ["a man rides a horse on the beach", "two cats sleep under warm blankets",
                 "green trains wait at an empty station", "children play football near tall trees"]
    assert lm_eval.self_bleu(copies) == pytest.approx(1.0, abs=1e-6)
    assert lm_eval.self_bleu(unrelated) < 0.01


def test_generation_metrics_fail_a_collapsed_generator():
    rng = np.random.default_rng(1)
    varied = [c.text for _ in range(40) for c in write_captions(sample_scene(rng), rng)]
    collapsed = lm_eval.generation_metrics(["a red circle above a blue star"] * 200, varied, True)
    assert collapsed["distinct_2"] < 0.01 and collapsed["distinct_1"] < 0.01
    assert collapsed["self_bleu_4"] > 0.99
    assert collapsed["valid_scene_fraction"] == 1.0  # valid, but not diverse
    diverse = lm_eval.generation_metrics(varied, [], True)
    assert diverse["distinct_2"] > 0.1 and diverse["self_bleu_4"] < collapsed["self_bleu_4"]


def test_every_grammar_caption_describes_a_valid_scene():
    rng = np.random.default_rng(0)
    captions = [c.text for _ in range(60) for c in write_captions(sample_scene(rng), rng)]
    assert len(captions) == 300
    assert lm_eval.valid_scene_fraction(captions) == 1.0


@pytest.mark.parametrize("caption", [
    "a blue blue",                                                # no shape
    "two shapes: a red circle",                                   # count disagrees
    "a red circle, a blue star, a green square and a pink cross",  # more than 3 objects
    "a red circle left of a blue star and the blue star left of the red circle",  # both ways
    "a red circle above a blue star and the red circle below the blue star",      # opposites
])
def test_impossible_scenes_are_invalid(caption):
    assert not lm_eval.describes_valid_scene(caption)


def test_generation_metrics_and_table():
    metrics = lm_eval.generation_metrics(["a red circle", "a blue box"], ["a red circle"],
                                         caption_shapes=True)
    assert metrics["novelty"] == 0.5 and metrics["valid_scene_fraction"] == 1.0
    assert "valid_scene_fraction" not in lm_eval.generation_metrics(["x y"], [], False)
    table = lm_eval.example_table(["a red"], ["a red | circle"], ["a red circle"])
    assert table.splitlines()[2] == "| a red | a red \\| circle | a red circle |"
