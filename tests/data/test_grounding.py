"""Grounding caption words in the scene: which object each token names, and where it lies."""

import numpy as np
import pytest

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
    _, mentions = parse_mentions(text)
    assert [(k, text[a:b]) for k, (a, b) in mentions] == [
        (0, "big red circle"), (1, "blue five-pointed star"), (2, "box"), (1, "left of")]


@pytest.mark.parametrize("caption", [
    "a red circle to the left of a blue box",
    "a blue box with a red circle to the left of it",
    "to the left of a blue box there is a red circle",
    "the red circle is to the left of the blue box",
])
def test_a_relation_phrase_grounds_in_the_object_it_relates_its_subject_to(caption):
    attributes = {"objects": [{"shape": "square", "colour": "blue", "size": "large"},
                              {"shape": "circle", "colour": "red", "size": "small"}]}
    tokens = _words(caption)
    grounded = dict(zip(tokens, grounding.token_objects(caption, attributes, tokens)))
    assert [grounded[w] for w in (" red", " circle", " blue", " box")] == [2, 2, 1, 1]
    assert {grounded[w] for w in (" left", " of")} == {1}, grounded


def test_every_grounded_word_names_or_relates_to_its_own_scene_object():
    scene, captions = _scene_with(3)
    attributes = scene.as_dict()
    for caption in captions:
        tokens = _words(caption.text)
        objects = grounding.token_objects(caption.text, attributes, tokens)
        assert len(objects) == len(tokens) and set(objects) >= {1, 2, 3}, caption.text
        assert (grounding.BACKGROUND_ROW + 1 in objects) == ("background" in caption.text)
        for token, k in zip(tokens, objects):
            if k == grounding.BACKGROUND_ROW + 1:
                assert token.strip() in " ".join(sum(vocab.TONE_WORDS.values(), ())
                                                 + sum(vocab.STYLE_WORDS.values(), ())
                                                 + ("background",)), (caption.text, token)
            elif k:   # a size, colour or shape word of object k - 1, or a relation to it
                truth = attributes["objects"][k - 1]
                words = " ".join(vocab.SIZE_WORDS[truth["size"]] + vocab.COLOUR_WORDS[truth["colour"]]
                                 + vocab.SHAPE_WORDS[truth["shape"]]
                                 + sum(vocab.RELATION_WORDS.values(), ()))
                assert token.strip(" ,:;").split("-")[0] in words, (caption.text, token, truth)


def test_tokens_that_do_not_spell_the_caption_ground_nothing():
    scene, captions = _scene_with(2)
    text = captions[0].text
    assert any(grounding.token_objects(text, scene.as_dict(), _words(text)))
    assert not any(grounding.token_objects(text, scene.as_dict(), _words(text)[::-1]))


def test_background_words_ground_in_the_background():
    caption = "a red circle on a dark textured background"
    attributes = {"objects": [{"shape": "circle", "colour": "red", "size": "small"}]}
    tokens = _words(caption)
    background = grounding.BACKGROUND_ROW + 1
    assert grounding.token_objects(caption, attributes, tokens) == [
        0, 1, 1, 0, 0, background, background, background]


@pytest.mark.parametrize("grid", [4, 8])
def test_object_masks_are_discs_on_the_grid_and_the_background_the_rest(grid):
    scene, _ = _scene_with(2)
    attributes = scene.as_dict()
    masks = grounding.object_masks(attributes, grid)
    assert masks.shape == (4, grid * grid)
    np.testing.assert_allclose(masks.sum(1), [1, 1, 0, 1], atol=1e-6)
    objects = masks[:2].sum(0) > 0
    background = masks[grounding.BACKGROUND_ROW] > 0
    assert background.any() and not (background & objects).any()
    assert (background | objects).all()
    cells = (np.arange(grid) + 0.5) / grid
    for k, obj in enumerate(attributes["objects"]):
        centre = int(obj["y"] * grid) * grid + int(obj["x"] * grid)   # row-major, y down
        assert masks[k, centre] == masks[k].max() > 0
        mass = masks[k].reshape(grid, grid)
        assert abs((mass.sum(1) * cells).sum() - obj["y"]) < 1 / grid   # centred on the object
        assert abs((mass.sum(0) * cells).sum() - obj["x"]) < 1 / grid
