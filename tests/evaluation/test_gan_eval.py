"""Attribute classifier and GAN conditional accuracy on real caption_shapes data: the accuracy
counts exactly the images whose classified attributes match their captions, against chance."""

import numpy as np
import pytest

from caption_aug import config_schema
from caption_aug.data import prepare as prepare_lib
from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.evaluation import attribute_classifier as classifier_lib
from caption_aug.evaluation import gan_eval

SIZE = 32


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    config = config_schema.base_config()
    config.data.caption_shapes.update(dict(train_size=450, validation_size=30, test_size=150,
                                           resolution=SIZE))
    return prepare_lib.prepare(config, str(tmp_path_factory.mktemp("gan_eval")))


@pytest.fixture(scope="module")
def classifier(prepared, tmp_path_factory):
    return classifier_lib.train_or_load(
        prepared.splits["train"], prepared.splits["test"], SIZE,
        str(tmp_path_factory.mktemp("classifier")),
        dict(steps=300, batch_size=32, learning_rate=2e-3, filters=(16, 32, 64),
             convs_per_block=1, stem=0), cache_max_mb=64, seed=0, max_consecutive_skips=20)


def test_single_object_subset_keeps_images_captions_tokens_and_metadata_aligned(prepared):
    split = prepared.splits["test"]
    single = classifier_lib.split_with_max_objects(split, 1)
    assert 0 < single.num_images < split.num_images
    assert all(len(meta["objects"]) == 1 for meta in single.metadata)
    expected = prepared.tokenizer.encode(single.flat_captions)
    assert single.caption_tokens == expected
    first = list(split.image_ids).index(single.image_ids[0])
    assert single.images[0] == split.images[first]
    assert single.captions[0] == split.captions[first]


def test_classifier_reads_colour_from_real_images_far_above_chance(classifier):
    assert classifier.real_accuracy["colour"] > 0.6       # chance is about 1/8


def test_object_labels_mark_every_object_of_a_scene(prepared):
    split = prepared.splits["test"]
    labels = classifier_lib.attribute_labels(split)["objects"]
    assert labels.sum(axis=1).tolist() == [len(meta["objects"]) for meta in split.metadata]
    obj = split.metadata[0]["objects"][0]
    assert labels[0, classifier_lib.pair_index(obj["colour"], obj["shape"])] == 1.0


def _painter(prepared, colour_of_caption):
    """A generator that paints the caption's object in `colour_of_caption(caption)`, drawing
    real single-object test images of that colour: lets the test know the true answer."""
    test = prepared.splits["test"]
    single = classifier_lib.split_with_max_objects(test, 1)
    images = classifier_lib.load_images(single, SIZE, 64)
    by_colour = {}
    for image, meta in zip(images, single.metadata):
        by_colour.setdefault(meta["objects"][0]["colour"], []).append(image)
    ids_to_caption = {tuple(ids): caption for ids, caption in
                      zip(test.caption_tokens, test.flat_captions)}

    def generate(token_ids, padding_mask, noise):
        out = []
        for row, mask in zip(token_ids, padding_mask):
            caption = ids_to_caption[tuple(int(i) for i in row[mask][1:-1])]
            pool = by_colour[colour_of_caption(caption)]
            out.append(pool[len(out) % len(pool)])
        return np.stack(out)
    return generate


def test_conditional_accuracy_rewards_following_the_caption(prepared, classifier):
    captions = prepared.splits["test"].flat_captions
    stated = dict(zip(captions, gan_eval.stated_attributes(captions)))

    def follow(caption):
        colour = stated[caption]["colour"] if stated[caption] else None
        return colour or "red"

    def ignore(caption):
        return "blue"

    kwargs = dict(classifier=classifier.model, split=prepared.splits["test"],
                  tokenizer=prepared.tokenizer, max_tokens=40, noise_dim=100)
    following = gan_eval.conditional_accuracy(_painter(prepared, follow), **kwargs)
    ignoring = gan_eval.conditional_accuracy(_painter(prepared, ignore), **kwargs)
    colour = following["colour"]
    assert colour["accuracy"] > colour["chance"] + 0.3
    assert abs(colour["accuracy"] - classifier.real_accuracy["colour"]) < 0.2
    assert ignoring["colour"]["accuracy"] <= ignoring["colour"]["chance"] + 0.05
    assert 1 / len(vocab.COLOURS) == colour["uniform_chance"]
    assert following["captions"] == ignoring["captions"] > 100
    assert following["objects"]["described_objects"] > following["captions"]


def test_real_images_score_high_under_their_captions_and_at_chance_under_shuffled_ones(
        prepared, classifier):
    real = gan_eval.real_image_scores(classifier.model, prepared.splits["test"], SIZE, 64)
    own, shuffled = real["own_captions"], real["shuffled_captions"]
    assert own["colour"]["accuracy"] == pytest.approx(classifier.real_accuracy["colour"], abs=0.05)
    assert own["colour"]["accuracy"] > 0.6
    assert shuffled["colour"]["accuracy"] < shuffled["colour"]["chance"] + 0.1
    assert own["objects"]["accuracy"] > shuffled["objects"]["accuracy"] + 0.05


def test_diversity_is_zero_for_a_generator_that_ignores_its_noise(prepared):
    single = classifier_lib.split_with_max_objects(prepared.splits["test"], 1)
    fixed = classifier_lib.load_images(single, SIZE, 64)[0]
    kwargs = dict(split=prepared.splits["test"], tokenizer=prepared.tokenizer, max_tokens=40,
                  noise_dim=4, image_size=SIZE, cache_max_mb=64, max_captions=4)
    blind = gan_eval.diversity(lambda ids, mask, noise: np.stack([fixed] * len(ids)), **kwargs)
    noisy = gan_eval.diversity(
        lambda ids, mask, noise: np.tanh(np.repeat(noise[:, None, None, :3], SIZE, 1).repeat(
            SIZE, 2)), **kwargs)
    assert blind["generated"] == 0.0 and blind["ratio"] == 0.0 and blind["real"] > 0.1
    assert noisy["ratio"] > 0.5


def test_stated_attributes_of_single_object_captions():
    stated = gan_eval.stated_attributes(["a small red circle.", "a green star above a blue box.",
                                         "there is a hexagon."])
    assert stated == [{"colour": "red", "shape": "circle"}, None,
                      {"colour": None, "shape": "hexagon"}]


def test_pad_tokens_frames_and_masks():
    ids, mask = gan_eval.pad_tokens([[5, 6], [7] * 10], start_id=1, end_id=1, pad_id=0,
                                    max_tokens=6)
    assert ids.tolist() == [[1, 5, 6, 1, 0, 0], [1, 7, 7, 7, 7, 1]]
    assert mask.sum(axis=1).tolist() == [4, 6]


def test_split_without_metadata_is_refused(prepared):
    split = prepared.splits["test"]
    bare = type(split)(name="bare", image_ids=split.image_ids, images=split.images,
                       captions=split.captions)
    with pytest.raises(ValueError, match="no scene metadata"):
        classifier_lib.split_with_max_objects(bare, 1)
