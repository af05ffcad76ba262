"""Where each caption word's object lies: the targets of supervised attention
(`captioner.attention_supervision`).

The words that describe an object (its size, colour and shape), and the relation phrases with their
two objects, are found by the parser, matched to the scene's objects as the scorer matches them,
and carried over to the caption's BPE tokens by character offsets; each object is a disc on the
captioner's E x E attention grid. A relation phrase grounds the attention in its subject and the
relation head's attention (`captioner.relation_head`) in the object it relates it to. Attention
supervised this way (Liu et al. 2017, "Attention Correctness in Neural Image Captioning") is what
the caption_shapes captioner lacked: its attention at a second object's words returned to the
first object (README, Stage 3).
"""

import numpy as np

from caption_aug.data import pipelines
from caption_aug.data.caption_shapes.parser import parse_mentions
from caption_aug.data.caption_shapes.scene import MAX_OBJECTS
from caption_aug.data.caption_shapes.scoring import match_objects


def object_masks(attributes: dict, grid: int) -> np.ndarray:
    """[MAX_OBJECTS, grid * grid] float32: the cells (row-major, y down) whose centre lies within
    an object's radius plus half a cell, each row summing to 1; zero rows for absent objects."""
    centres = (np.arange(grid) + 0.5) / grid
    y, x = np.meshgrid(centres, centres, indexing="ij")
    masks = np.zeros([MAX_OBJECTS, grid * grid], np.float32)
    for k, obj in enumerate(attributes["objects"]):
        inside = np.hypot(x - obj["x"], y - obj["y"]) <= obj["radius"] + 0.5 / grid
        masks[k] = inside.reshape(-1) / max(inside.sum(), 1)
    return masks


def token_objects(caption: str, attributes: dict, token_texts: list) -> tuple:
    """Per token of the caption (`token_texts`, the tokens' strings in order), two lists:
    `objects`, k + 1 when the token is part of a word describing scene object k or of a relation
    phrase whose subject is k, else 0; `related`, k + 1 when it is part of a relation phrase
    relating its subject to object k ("left of" in "a star left of a box": the box), else 0.
    All zeros when the tokens do not spell the caption (nothing is grounded rather than
    something wrongly)."""
    if "".join(token_texts) != caption:
        return [0] * len(token_texts), [0] * len(token_texts)
    claims, mentions, relation_spans = parse_mentions(caption)
    match = match_objects(claims.objects, attributes["objects"])
    char_object = np.zeros(len(caption), np.int32)
    char_related = np.zeros(len(caption), np.int32)
    for index, (start, end) in mentions:
        if match[index] is not None:
            char_object[start:end] = match[index] + 1
    for relation, (start, end) in relation_spans:
        subject, related = match[relation.subject], match[relation.object]
        if subject is not None and related is not None:
            char_object[start:end], char_related[start:end] = subject + 1, related + 1
    objects, related, position = [], [], 0
    for text in token_texts:
        objects.append(int(char_object[position:position + len(text)].max(initial=0)))
        related.append(int(char_related[position:position + len(text)].max(initial=0)))
        position += len(text)
    return objects, related


def split_grounding(split, tokenizer, grid: int, max_tokens: int) -> tuple:
    """(token objects, token related objects: of every caption, framed as the pipelines frame
    tokens, [start] + ... + [end] cut to `max_tokens` with 0 at start and end, tf.RaggedTensors;
    object masks of every image [num_images, MAX_OBJECTS, grid * grid]) of a caption_shapes
    split."""
    keras_tokenizer = tokenizer.keras_tokenizer
    ids = range(tokenizer.vocabulary_size)
    texts = [t.decode() if isinstance(t, bytes) else str(t)
             for t in keras_tokenizer.detokenize([[i] for i in ids])]
    grounded = [token_objects(caption, split.metadata[image], [texts[i] for i in ids])
                for caption, image, ids in zip(split.flat_captions, split.caption_image_index,
                                               split.caption_tokens)]
    masks = np.stack([object_masks(attributes, grid) for attributes in split.metadata])
    return (pipelines.frame([objects for objects, _ in grounded], 0, 0, max_tokens),
            pipelines.frame([related for _, related in grounded], 0, 0, max_tokens), masks)
