"""Tests of the caption_shapes grammar, the parser that reads its captions back, and scoring."""

import collections
import itertools

import numpy as np
import pytest

from caption_aug.data.caption_shapes import (Claims, ObjectClaim, RelationClaim,
                                             caption_matches_scene, parse_caption, sample_scene,
                                             score_caption, write_captions)


@pytest.fixture(scope="module")
def captioned_scenes():
    """3000 scenes with their 5 Captions each."""
    result = []
    for i in range(3000):
        rng = np.random.default_rng(i)
        the_scene = sample_scene(rng)
        result.append((the_scene, write_captions(the_scene, rng)))
    return result


def test_parser_reads_every_grammar_caption_back_to_exactly_its_claims(captioned_scenes):
    failures = [(c.text, c.claims, parse_caption(c.text)) for _, captions in captioned_scenes
                for c in captions if parse_caption(c.text) != c.claims]
    assert not failures[:5]


def test_every_grammar_caption_is_true_and_mentions_every_object_once(captioned_scenes):
    for the_scene, captions in captioned_scenes:
        attributes = the_scene.as_dict()
        for caption in captions:
            score = score_caption(caption.text, attributes)
            assert score.all_true and score.all_mentioned and score.precision == 1.0
            assert not score.repeated, caption.text
            assert caption_matches_scene(caption.text, attributes)


def test_captions_are_diverse(captioned_scenes):
    texts = [c.text for _, captions in captioned_scenes for c in captions]
    claims = [c.claims for _, captions in captioned_scenes for c in captions]
    assert len(set(texts)) > 0.9 * len(texts)
    vocabulary = {w for t in texts for w in t.replace(",", " ").replace(":", " ").split()}
    assert len(vocabulary) >= 75
    openings = collections.Counter(" ".join(t.split()[:2]) for t in texts)
    assert len(openings) >= 40 and max(openings.values()) < 0.15 * len(texts)
    frames = collections.Counter(_frame(t) for t in texts)
    assert len(frames) >= 25 and max(frames.values()) < 0.15 * len(texts)

    def share(predicate):
        return sum(map(predicate, claims)) / len(claims)

    assert 0.2 < share(lambda c: any(o.size for o in c.objects)) < 0.95
    assert 0.2 < share(lambda c: bool(c.relations)) < 0.8
    assert 0.1 < share(lambda c: c.count is not None) < 0.5
    assert 0.1 < share(lambda c: c.background_tone is not None) < 0.5
    assert 0.05 < share(lambda c: any(o.colour is None for o in c.objects)) < 0.3


def _frame(text: str) -> str:
    """The caption with its content words blanked: what is left is the template's shape."""
    blank = {"small", "little", "tiny", "large", "big", "red", "orange", "yellow", "green",
             "cyan", "turquoise", "blue", "purple", "violet", "pink", "circle", "disc", "round",
             "square", "box", "triangle", "triangular", "star", "five-pointed", "diamond",
             "rhombus", "cross", "plus", "sign", "hexagon", "six-sided", "shape", "a", "an"}
    return " ".join(w for w in text.replace(",", " ,").split() if w not in blank)


def test_each_image_gets_five_distinct_captions_from_distinct_templates(captioned_scenes):
    for _, captions in captioned_scenes[:300]:
        texts = [c.text for c in captions]
        assert len(texts) == 5 and len(set(texts)) == 5
        assert len({_frame(t) for t in texts}) >= 4


def test_parser_ignores_case_punctuation_hyphens_and_unknown_words():
    claims = parse_caption("A BIG Red Circle -- to the LEFT of a Blue Six Sided Shape!!")
    assert claims.objects == (ObjectClaim("circle", "red", "large"),
                              ObjectClaim("hexagon", "blue", None))
    assert claims.relations == (RelationClaim(0, "left of", 1),)
    assert parse_caption("Lovely: a really tiny violet box.").objects == (
        ObjectClaim("square", "purple", "small"),)
    assert parse_caption("a cat on a mat") == Claims()


@pytest.mark.parametrize("text, objects, relations", [
    ("a blue box with a red disc above it",
     [("square", "blue"), ("circle", "red")], [(1, "above", 0)]),
    ("under a green star there is a pink cross",
     [("star", "green"), ("cross", "pink")], [(1, "below", 0)]),
    ("a red circle left of a blue square, and a green star below the blue square",
     [("circle", "red"), ("square", "blue"), ("star", "green")],
     [(0, "left of", 1), (2, "below", 1)]),
    ("a red circle and a blue square", [("circle", "red"), ("square", "blue")], []),
])
def test_parser_links_relations_to_the_right_objects(text, objects, relations):
    claims = parse_caption(text)
    assert [(o.shape, o.colour) for o in claims.objects] == objects
    assert claims.relations == tuple(RelationClaim(*r) for r in relations)


def test_parser_reads_counts_and_backgrounds():
    claims = parse_caption("two objects on a pale mottled background: a disc and a box")
    assert (claims.count, claims.background_tone, claims.background_style) == (2, "light",
                                                                                 "noise")
    assert parse_caption("a single red star").count == 1
    assert parse_caption("a dark red star").background_tone is None


def _two_object_scene():
    for i in itertools.count():
        the_scene = sample_scene(np.random.default_rng(i))
        shapes = {o.shape for o in the_scene.objects}
        if len(the_scene.objects) == 2 and len(shapes) == 2:
            return the_scene


def test_scoring_counts_wrong_claims_and_missing_objects():
    the_scene = _two_object_scene()
    attributes = the_scene.as_dict()
    a, b = the_scene.objects
    wrong_colour = next(c for c in ("red", "green") if c != a.colour)
    relation = the_scene.relation(0, 1)
    other_relation = {"left of": "right of", "right of": "left of",
                      "above": "below", "below": "above"}[relation]

    exact = f"a {a.size} {a.colour} {a.shape} {relation} a {b.colour} {b.shape}"
    assert caption_matches_scene(exact, attributes)

    score = score_caption(f"a {wrong_colour} {a.shape} {relation} a {b.colour} {b.shape}",
                          attributes)
    assert score.stated["colour"] == 2 and score.correct["colour"] == 1
    assert score.precision == pytest.approx(4 / 5) and not score.all_true

    score = score_caption(f"a {a.colour} {a.shape} {other_relation} a {b.colour} {b.shape}",
                          attributes)
    assert score.correct["relation"] == 0 and score.stated["relation"] == 1

    score = score_caption(f"a {a.colour} {a.shape}", attributes)
    assert score.all_true and not score.all_mentioned and score.mentioned == 1
    assert not caption_matches_scene(f"a {a.colour} {a.shape}", attributes)

    score = score_caption(f"three shapes: a {a.colour} {a.shape}, a {b.colour} {b.shape} "
                          f"and a {b.colour} {b.shape}", attributes)
    assert score.correct["count"] == 0 and score.mentioned == 2
    # after "a" (not "the") a repeated description is one more object, matching nothing
    assert (score.stated["shape"], score.correct["shape"]) == (3, 2)

    score = score_caption("nothing to see here", attributes)
    assert score.num_claims == 0 and score.precision == 0.0 and not score.all_true


def test_scoring_flags_an_object_named_more_often_than_the_scene_holds_it():
    the_scene = _two_object_scene()
    attributes = the_scene.as_dict()
    a, b = the_scene.objects
    assert not score_caption(f"a {a.colour} {a.shape} and a {b.colour} {b.shape}",
                             attributes).repeated
    twice = score_caption(f"a {a.colour} {a.shape} and a {a.colour} {a.shape}", attributes)
    assert twice.repeated and not twice.all_true
    # a description without colour fits every object of its shape
    assert score_caption(f"a {a.shape} and a {a.colour} {a.shape}", attributes).repeated
