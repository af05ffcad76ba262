"""Grounding caption words in the scene: which object each token names, and where it lies."""

import numpy as np
import pytest

from caption_aug.data import corruption
from caption_aug.data.caption_shapes import grounding, sample_scene, write_captions
from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.data.caption_shapes.parser import parse_mentions


def _scene_with(count):
    for seed in range(100):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng)
        if len(scene.objects) == count:
            return scene, write_captions(scene, rng)
    raise AssertionError(f"no scene of {count} objects")


def _words(caption):
    """Word-level tokens that spell the caption, as a BPE tokenizer's do ("a", " red", ...)."""
    words = caption.split(" ")
    return [words[0]] + [" " + word for word in words[1:]]


def test_mentions_span_their_size_colour_and_shape_words():
    text = "three shapes: a big red circle left of the blue five-pointed star, and a box"
    _, mentions, _ = parse_mentions(text)
    assert [(k, text[a:b]) for k, (a, b) in mentions] == [
        (0, "big red circle"), (1, "blue five-pointed star"), (2, "box")]


def test_every_word_of_a_mention_names_its_own_scene_object():
    scene, captions = _scene_with(3)
    attributes = scene.as_dict()
    for caption in captions:
        tokens = _words(caption.text)
        objects, related = grounding.token_objects(caption.text, attributes, tokens)
        assert len(objects) == len(tokens) and set(objects) >= {1, 2, 3}, caption.text
        for token, k, r in zip(tokens, objects, related):
            if k and not r:   # a size, colour or shape word of object k - 1
                truth = attributes["objects"][k - 1]
                words = " ".join(vocab.SIZE_WORDS[truth["size"]] + vocab.COLOUR_WORDS[truth["colour"]]
                                 + vocab.SHAPE_WORDS[truth["shape"]])
                assert token.strip(" ,:;").split("-")[0] in words, (caption.text, token, truth)


def test_a_relation_phrase_grounds_in_its_subject_and_the_object_it_relates_it_to():
    scene, captions = _scene_with(2)
    attributes = scene.as_dict()
    phrases = 0
    for caption in captions:
        claims = parse_mentions(caption.text)[0]
        objects, related = grounding.token_objects(caption.text, attributes, _words(caption.text))
        for token, k, r in zip(_words(caption.text), objects, related):
            if r:   # a word of a relation phrase: its subject k - 1 lies that way of object r - 1
                phrases += 1
                assert token.strip() in ("to", "the", "left", "right", "of", "on", "above",
                                         "over", "below", "under", "beneath"), caption.text
                assert k and k != r
                assert scene.relation(k - 1, r - 1) in {c.relation for c in claims.relations}
    assert phrases


def test_tokens_that_do_not_spell_the_caption_ground_nothing():
    scene, captions = _scene_with(2)
    text = captions[0].text
    assert any(grounding.token_objects(text, scene.as_dict(), _words(text))[0])
    assert not any(grounding.token_objects(text, scene.as_dict(), _words(text)[::-1])[0])


@pytest.mark.parametrize("grid", [4, 8])
def test_object_masks_are_discs_on_the_grid_summing_to_one(grid):
    scene, _ = _scene_with(2)
    attributes = scene.as_dict()
    masks = grounding.object_masks(attributes, grid)
    assert masks.shape == (3, grid * grid)
    np.testing.assert_allclose(masks.sum(1), [1, 1, 0], atol=1e-6)
    cells = (np.arange(grid) + 0.5) / grid
    for k, obj in enumerate(attributes["objects"]):
        centre = int(obj["y"] * grid) * grid + int(obj["x"] * grid)   # row-major, y down
        assert masks[k, centre] == masks[k].max() > 0
        mass = masks[k].reshape(grid, grid)
        assert abs((mass.sum(1) * cells).sum() - obj["y"]) < 1 / grid   # centred on the object
        assert abs((mass.sum(0) * cells).sum() - obj["x"]) < 1 / grid


def test_a_relation_stated_twice_gives_two_phrases_of_one_claim():
    text = "a red circle left of a blue box, the red circle left of the blue box"
    claims, _, relation_spans = parse_mentions(text)
    assert len(claims.relations) == 1    # claims deduplicate; each phrase keeps its own claim
    assert [(relation, text[a:b]) for relation, (a, b) in relation_spans] == [
        (claims.relations[0], "left of"), (claims.relations[0], "left of")]


def test_word_shuffled_captions_ground_without_error():
    """The study's corrupted captions (`data.corrupt_fraction`: words shuffled) parse into odd
    claims, a relation stated twice among them (2 of these 2,000 captions); they still ground,
    in the scene's objects."""
    for seed in range(400):
        rng = np.random.default_rng(seed)
        scene = sample_scene(rng)
        for caption in write_captions(scene, rng):
            text = corruption.corrupt_captions([[caption.text]], 1.0, seed)[0][0][0]
            objects, related = grounding.token_objects(text, scene.as_dict(), _words(text))
            assert len(objects) == len(related) == len(_words(text))
            assert max(objects + related) <= len(scene.objects)
