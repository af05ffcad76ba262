"""The joint phase's synthetic captions: draws that do not depend on the draws before them (the
random samplers too), and the log of their texts, truncated on resume to the checkpoint."""

import json
import types

import keras
import ml_collections
import numpy as np

from caption_aug.models import caption_lm
from caption_aug.training.joint import caption_sampler
from caption_aug.training.joint import trainer as joint_trainer

WORDS = "a red blue green circle star square above below left of right and two shapes".split()


class _Tokenizer:
    """Word-level ids: 0 start and end, 1 padding, then WORDS."""
    start_id = end_id = 0
    pad_id = 1

    def encode(self, texts):
        return [[2 + WORDS.index(w) for w in text.split()] for text in texts]

    def decode(self, ids):
        return " ".join(WORDS[i - 2] for i in ids if i > 1)


def _sampler(model, sampler="top_k", seed=0):
    generation = ml_collections.ConfigDict(dict(
        prompt_words=2, max_length=6, sampler=sampler, num_beams=2, top_k=5, top_p=0.9,
        temperature=1.0))
    split = types.SimpleNamespace(flat_captions=[
        "a red circle", "a blue star above a green square", "two shapes a red star and a circle",
        "a green circle left of a blue square", "a blue square", "a red star below a circle"])
    return caption_sampler.CaptionSampler(model, _Tokenizer(), split, generation, noise_dim=3,
                                             seed=seed)


def test_a_top_k_draw_depends_on_seed_and_draw_number_not_on_earlier_draws():
    keras.utils.set_random_seed(1)
    model = caption_lm.build_caption_lm(ml_collections.ConfigDict(dict(
        preset="", num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.0,
        max_sequence_length=16)), 2 + len(WORDS))
    sampler = _sampler(model)
    first = sampler.sample(4, draw=3)
    for draw in (0, 1, 2):
        sampler.sample(4, draw=draw)
    again = sampler.sample(4, draw=3)
    np.testing.assert_array_equal(first["token_ids"], again["token_ids"])
    np.testing.assert_array_equal(first["noise"], again["noise"])
    fresh = _sampler(model).sample(4, draw=3)  # a resumed run builds a new sampler
    np.testing.assert_array_equal(first["token_ids"], fresh["token_ids"])
    texts = caption_sampler.caption_texts(first["token_ids"], _Tokenizer())
    assert len(texts) == 4 and all(t.split()[:2] for t in texts)


def _line(draw, captions=("a red circle",)):
    return json.dumps({"draw": draw, "captions": list(captions)}) + "\n"


def test_resume_keeps_only_the_draws_before_the_restored_iteration():
    lines = [_line(0), _line(1), _line(2), _line(3), _line(4), '{"draw": 5, "capt']
    assert caption_sampler.kept_lines(lines, 3) == lines[:3]
    assert caption_sampler.kept_lines(lines, 0) == []
    assert caption_sampler.kept_lines(lines, 10) == lines[:5]  # the torn last line goes
    # A draw logged twice (a second kill before its checkpoint) is kept once.
    assert caption_sampler.kept_lines([_line(0), _line(1), _line(1, ["x"])], 5) == [
        _line(0), _line(1)]
    assert caption_sampler.kept_lines(["not json\n", "[1, 2]\n", _line(0).rstrip("\n")], 1) == [
        _line(0)]


def test_log_round_trip_truncation_and_metrics(tmp_path):
    path = str(tmp_path / "synthetic_captions.jsonl")
    caption_sampler.truncate_log(path, 0)  # no log yet: nothing to do
    assert caption_sampler.read_log(path) == {}
    for draw in range(4):
        caption_sampler.append_draw(path, draw, [f"a red circle {WORDS[draw]}", "a blue star"])
    caption_sampler.truncate_log(path, 2)  # resumed at the checkpoint of iteration 2
    caption_sampler.append_draw(path, 2, ["a green square above a red star", "a blue star"])
    draws = caption_sampler.read_log(path)
    assert list(draws) == [0, 1, 2]
    assert draws[2] == ["a green square above a red star", "a blue star"]
    report = joint_trainer.synthetic_caption_report(path, ["a blue star"], True, iterations=3)
    assert (report["draws"], report["captions"]) == (3, 6)
    assert set(report) >= {"distinct_1", "distinct_2", "self_bleu_4", "novelty",
                           "valid_scene_fraction"}
    assert report["novelty"] == 0.5  # "a blue star" is a training caption


def test_validation_losses_survive_a_resume_as_the_captions_do(tmp_path):
    path = str(tmp_path / "synthetic_captions.jsonl")
    for draw in range(4):
        caption_sampler.append_draw(path, draw, ["a blue star"], validation_loss=2.0 - draw / 10)
    caption_sampler.truncate_log(path, 2)  # resumed at the checkpoint of iteration 2
    caption_sampler.append_draw(path, 2, ["a red star"], validation_loss=1.5)
    caption_sampler.append_draw(path, 3, ["a red star"])   # an iteration without hypergradient
    assert caption_sampler.read_validation_losses(path) == [[1, 2.0], [2, 1.9], [3, 1.5]]
    assert list(caption_sampler.read_log(path)) == [0, 1, 2, 3]
