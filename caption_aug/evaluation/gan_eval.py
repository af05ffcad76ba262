"""Conditional accuracy of a text-to-image GAN on caption_shapes, with its chance level and ceiling.

One image is generated per test caption and read back by the attribute classifier. For captions
of single-object images, the conditional accuracy of colour (or shape) is the fraction whose
classified attribute equals the stated one (stated values come from `parse_caption`); chance is
the best caption-blind generator's, one that always draws the most frequent stated value (the
uniform 1/K is reported too); the ceiling is the classifier's accuracy on the real test images.
For every caption, `objects` is the share of described objects found in the image; its ceiling
and chance are the real test images' under their own and under shuffled captions.
"""

import collections
from typing import Callable

import numpy as np

from caption_aug.data import corpus
from caption_aug.data.caption_shapes import parse_caption
from caption_aug.evaluation import attribute_classifier as classifier_lib

# (token_ids int32 [B, T], padding_mask bool [B, T], noise float32 [B, Z]) -> images [B, S, S, 3]
GenerateFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def stated_attributes(captions) -> list:
    """Per caption: {"colour": value or None, "shape": ...} when it describes exactly one object,
    else None."""
    stated = []
    for caption in captions:
        claims = parse_caption(caption)
        if len(claims.objects) != 1:
            stated.append(None)
            continue
        obj = claims.objects[0]
        stated.append({"colour": obj.colour, "shape": obj.shape})
    return stated


def pad_tokens(token_lists, start_id: int, end_id: int, pad_id: int, max_tokens: int) -> tuple:
    """[start] + ids + [end], cut to max_tokens, padded: (token_ids int32, padding_mask bool)."""
    ids = np.full((len(token_lists), max_tokens), pad_id, np.int32)
    mask = np.zeros((len(token_lists), max_tokens), bool)
    for row, tokens in enumerate(token_lists):
        framed = [start_id] + list(tokens[:max_tokens - 2]) + [end_id]
        ids[row, :len(framed)] = framed
        mask[row, :len(framed)] = True
    return ids, mask


def _generate_all(generate: GenerateFn, token_lists, tokenizer, max_tokens: int, noise_dim: int,
                  batch_size: int, seed: int) -> np.ndarray:
    """One generated image per caption (token ids), with seeded noise."""
    ids, mask = pad_tokens(token_lists, tokenizer.start_id, tokenizer.end_id, tokenizer.pad_id,
                           max_tokens)
    rng = np.random.default_rng(seed)
    images = []
    for begin in range(0, len(ids), batch_size):
        noise = rng.standard_normal((len(ids[begin:begin + batch_size]), noise_dim)).astype("float32")
        images.append(np.asarray(generate(ids[begin:begin + batch_size],
                                          mask[begin:begin + batch_size], noise)))
    return np.concatenate(images)


def score_images(classifier, images: np.ndarray, captions, single_object) -> dict:
    """How far `images` show what their `captions` (one per image) state, read by the classifier.

    colour / shape: accuracy over the captions of single-object scenes (`single_object[k]`) that
    state the attribute, with chance (the most frequent stated value) and the uniform 1/K;
    all_stated: both at once, against a caption-blind generator's best. objects: over every
    caption, the share of described (colour, shape) objects that the classifier finds in the
    image, i.e. among its n likeliest pairs for a caption describing n objects (shape is always
    stated; a colourless object counts if its shape is found with any colour).
    """
    predicted = classifier_lib.predict(classifier, images)
    stated = stated_attributes(captions)
    rows = [k for k, s in enumerate(stated) if s is not None and single_object[k]]
    if not rows:
        raise ValueError("no single-object caption to score")
    result = {"captions": len(rows)}
    matches_all = np.ones(len(rows), bool)
    for name, values in classifier_lib.ATTRIBUTES.items():
        wanted = [stated[k][name] for k in rows]
        known = np.array([w is not None for w in wanted])
        hit = np.array([values[predicted[name][k]] == w for k, w in zip(rows, wanted)])
        counts = collections.Counter(w for w in wanted if w is not None)
        result[name] = {
            "accuracy": float(hit[known].mean()),
            "chance": max(counts.values()) / int(known.sum()),
            "uniform_chance": 1.0 / len(values),
            "captions_stating_it": int(known.sum()),
        }
        matches_all &= hit | ~known
    result["all_stated"] = {"accuracy": float(matches_all.mean()),
                            "chance": _blind_chance([stated[k] for k in rows])}
    found = []
    ranks = predicted[classifier_lib.OBJECTS]
    for k, caption in enumerate(captions):
        described = parse_caption(caption).objects
        for obj in described:
            colours = [obj.colour] if obj.colour else classifier_lib.ATTRIBUTES["colour"]
            found.append(any(ranks[k, classifier_lib.pair_index(c, obj.shape)] < len(described)
                             for c in colours))
    result["objects"] = {"accuracy": float(np.mean(found)) if found else 0.0,
                         "described_objects": len(found)}
    return result


def _scored_captions(split: corpus.Split) -> tuple:
    """(token lists, captions, single_object flags, image row) of every caption of `split`."""
    single = [len(split.metadata[i]["objects"]) == 1 for i in split.caption_image_index]
    return (split.caption_tokens, split.flat_captions, np.array(single),
            np.asarray(split.caption_image_index))


def real_image_scores(classifier, split: corpus.Split, image_size: int, cache_max_mb: float,
                      seed: int = 0) -> dict:
    """`score_images` of the real images under their own captions (the ceiling a generator can
    reach) and under captions shuffled across the split (what a caption-blind one gets: a check
    that the scores can fail, and the chance of `objects`)."""
    _, captions, single, image_row = _scored_captions(split)
    images = classifier_lib.load_images(split, image_size, cache_max_mb)[image_row]
    order = np.random.default_rng(seed).permutation(len(captions))
    return {"own_captions": score_images(classifier, images, captions, single),
            "shuffled_captions": score_images(classifier, images[order], captions, single[order])}


def conditional_accuracy(generate: GenerateFn, classifier, split: corpus.Split, tokenizer,
                         max_tokens: int, noise_dim: int, batch_size: int = 128,
                         seed: int = 0) -> dict:
    """Generates one image per test caption and scores it against its caption (`score_images`)."""
    tokens, captions, single, _ = _scored_captions(split)
    images = _generate_all(generate, tokens, tokenizer, max_tokens, noise_dim, batch_size, seed)
    return score_images(classifier, images, captions, single)


def diversity(generate: GenerateFn, split: corpus.Split, tokenizer, max_tokens: int,
              noise_dim: int, image_size: int, cache_max_mb: float, samples: int = 8,
              max_captions: int = 64, seed: int = 0) -> dict:
    """Whether the generator uses its noise: the mean pairwise RMS pixel distance (on [-1, 1])
    of `samples` images drawn for one caption, averaged over single-object captions, against the
    same figure for the real single-object images of one (colour, shape) (what one caption may
    rightly show). `ratio` near 0 means the noise is ignored."""
    single = classifier_lib.split_with_max_objects(split, 1)
    real = classifier_lib.load_images(single, image_size, cache_max_mb)
    groups = collections.defaultdict(list)
    for image, meta in zip(real, single.metadata):
        groups[(meta["objects"][0]["colour"], meta["objects"][0]["shape"])].append(image)
    real_spread = [_mean_pairwise_distance(np.stack(g)) for g in groups.values() if len(g) > 1]
    rows = np.random.default_rng(seed).permutation(len(single.caption_tokens))[:max_captions]
    images = _generate_all(generate, [single.caption_tokens[k] for k in rows for _ in
                                      range(samples)], tokenizer, max_tokens, noise_dim,
                           batch_size=128, seed=seed + 1)
    generated_spread = [_mean_pairwise_distance(group)
                        for group in images.reshape(len(rows), samples, *images.shape[1:])]
    real_value, generated_value = float(np.mean(real_spread)), float(np.mean(generated_spread))
    return {"generated": generated_value, "real": real_value,
            "ratio": generated_value / real_value if real_value else 0.0}


def _mean_pairwise_distance(images: np.ndarray) -> float:
    flat = images.reshape(len(images), -1).astype(np.float64)
    distances = [np.sqrt(np.mean((flat[i] - flat[j]) ** 2))
                 for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return float(np.mean(distances))


def _blind_chance(stated: list) -> float:
    """Best accuracy of a generator that always draws the same (colour, shape), whatever the
    caption; an attribute a caption leaves unstated matches anything."""
    best = 0.0
    for colour in classifier_lib.ATTRIBUTES["colour"]:
        for shape in classifier_lib.ATTRIBUTES["shape"]:
            hits = [s["colour"] in (None, colour) and s["shape"] in (None, shape) for s in stated]
            best = max(best, float(np.mean(hits)))
    return best
