"""Conditional accuracy of a text-to-image GAN on caption_shapes, with its chance level and ceiling.

For every caption of a single-object test image that states the object's colour (or shape), one
image is generated and read back by the attribute classifier; the conditional accuracy is the
fraction whose classified attribute equals the stated one (stated values come from
`parse_caption`). Chance is the accuracy of the best caption-blind generator, one that always
draws the most frequent stated value (the uniform 1/K is reported too); the ceiling is the
classifier's accuracy on the real test images.
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


def conditional_accuracy(generate: GenerateFn, classifier, split: corpus.Split, tokenizer,
                         max_tokens: int, noise_dim: int, batch_size: int = 128,
                         seed: int = 0) -> dict:
    """Generates one image per single-object test caption and scores it against the caption."""
    single = classifier_lib.split_with_max_objects(split, 1)
    stated = stated_attributes(single.flat_captions)
    rows = [k for k, s in enumerate(stated) if s is not None]
    if not rows:
        raise ValueError(f"split {split.name!r} has no single-object caption to condition on")
    ids, mask = pad_tokens([single.caption_tokens[k] for k in rows], tokenizer.start_id,
                           tokenizer.end_id, tokenizer.pad_id, max_tokens)
    rng = np.random.default_rng(seed)
    predicted = collections.defaultdict(list)
    for begin in range(0, len(rows), batch_size):
        noise = rng.standard_normal((len(ids[begin:begin + batch_size]), noise_dim)).astype("float32")
        images = generate(ids[begin:begin + batch_size], mask[begin:begin + batch_size], noise)
        for name, values in classifier_lib.predict(classifier, np.asarray(images)).items():
            predicted[name].extend(values)
    result = {"captions": len(rows)}
    matches_all = np.ones(len(rows), bool)
    for name, values in classifier_lib.ATTRIBUTES.items():
        wanted = [stated[k][name] for k in rows]
        known = np.array([w is not None for w in wanted])
        got = np.array([values[p] for p in predicted[name]])
        hit = np.array([g == w for g, w in zip(got, wanted)])
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
    return result


def _blind_chance(stated: list) -> float:
    """Best accuracy of a generator that always draws the same (colour, shape), whatever the
    caption; an attribute a caption leaves unstated matches anything."""
    best = 0.0
    for colour in classifier_lib.ATTRIBUTES["colour"]:
        for shape in classifier_lib.ATTRIBUTES["shape"]:
            hits = [s["colour"] in (None, colour) and s["shape"] in (None, shape) for s in stated]
            best = max(best, float(np.mean(hits)))
    return best
