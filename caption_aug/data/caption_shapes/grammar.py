"""Captions from a small English grammar, each with the Claims it makes.

Templates vary the sentence frame ("there is ...", "two shapes: ...", "a picture of ..."), the
order of mentions, the relation's direction ("a box with a disc above it"), synonyms, and
whether sizes, colours, counts, the background and relations are stated. Every object of the
scene is always mentioned, and in words that pick it out alone.
"""

import dataclasses

import numpy as np

from caption_aug.data.caption_shapes import vocabulary as vocab
from caption_aug.data.caption_shapes.claims import Claims, ObjectClaim, RelationClaim
from caption_aug.data.caption_shapes.scene import Scene

CAPTIONS_PER_IMAGE = 5
P_SIZE = 0.5        # a mention states the object's size
P_NO_COLOUR = 0.1   # a mention leaves the colour out (only when the shape alone identifies it)
P_STYLE = 0.5       # a background phrase states the style as well as the tone
PICTURE_PHRASES = ("a picture of", "an image of", "a drawing of", "an image showing",
                   "a picture showing", "an illustration of", "a scene with")


@dataclasses.dataclass(frozen=True)
class Caption:
    """A caption and what it states."""
    text: str
    claims: Claims


class _Writer:
    """Hands out the phrases of one caption and records what they claim.

    An object keeps the same words at every mention, so "the red box" refers back.
    """

    def __init__(self, scene: Scene, rng: np.random.Generator):
        self._scene, self._rng = scene, rng
        self._words, self._claims = {}, {}
        self._mentioned, self._relations = [], []
        self._count = self._tone = self._style = None

    def _pick(self, options):
        return options[self._rng.integers(len(options))]

    def noun(self, i: int, determiner: str = "a") -> str:
        """Noun phrase for object i: determiner "a", "the" or "single" ("a single ...")."""
        if i not in self._words:
            self._describe(i)
        if i not in self._mentioned:
            self._mentioned.append(i)
        words = self._words[i]
        if determiner == "single":
            self._count = 1
            return f"a single {words}"
        return f"the {words}" if determiner == "the" else f"{_article(words)} {words}"

    def _describe(self, i: int) -> None:
        obj = self._scene.objects[i]
        unique_shape = sum(o.shape == obj.shape for o in self._scene.objects) == 1
        colour = None if unique_shape and self._rng.random() < P_NO_COLOUR else obj.colour
        size = obj.size if self._rng.random() < P_SIZE else None
        words = [self._pick(vocab.SIZE_WORDS[size])] if size else []
        words += [self._pick(vocab.COLOUR_WORDS[colour])] if colour else []
        words.append(self._pick(vocab.SHAPE_WORDS[obj.shape]))
        self._words[i] = " ".join(words)
        self._claims[i] = ObjectClaim(obj.shape, colour, size)

    def rel(self, i: int, j: int, fronted: bool = False) -> str:
        """Phrase for where object i is relative to object j ("to the left of")."""
        relation = self._scene.relation(i, j)
        self._relations.append((i, relation, j))
        table = vocab.FRONTED_RELATION_WORDS if fronted else vocab.RELATION_WORDS
        return self._pick(table[relation])

    def background(self) -> str:
        """"on a dark textured background" and the like."""
        background = self._scene.background
        self._tone = background.tone
        words = [self._pick(vocab.TONE_WORDS[background.tone])]
        if self._rng.random() < P_STYLE:
            self._style = background.style
            words.append(self._pick(vocab.STYLE_WORDS[background.style]))
        phrase = " ".join(words)
        return f"{self._pick(('on', 'against'))} {_article(phrase)} {phrase} background"

    def count(self, n: int) -> str:
        """"two shapes", "three objects"."""
        self._count = n
        noun = self._pick(("shape", "object")) + ("s" if n > 1 else "")
        return f"{vocab.NUMBER_WORDS[n]} {noun}"

    def picture(self) -> str:
        return self._pick(PICTURE_PHRASES)

    def claims(self) -> Claims:
        index = {i: k for k, i in enumerate(self._mentioned)}
        return Claims(
            objects=tuple(self._claims[i] for i in self._mentioned),
            relations=tuple(RelationClaim(index[i], r, index[j]) for i, r, j in self._relations),
            count=self._count, background_tone=self._tone, background_style=self._style)


def _article(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


TEMPLATES = {
    1: (
        lambda w, a: w.noun(a),
        lambda w, a: f"there is {w.noun(a)}",
        lambda w, a: f"{w.picture()} {w.noun(a)}",
        lambda w, a: f"{w.noun(a)} {w.background()}",
        lambda w, a: f"{w.picture()} {w.noun(a)} {w.background()}",
        lambda w, a: w.noun(a, "single"),
        lambda w, a: f"{w.count(1)}: {w.noun(a)}",
        lambda w, a: f"there is only {w.count(1)}, {w.noun(a)} {w.background()}",
    ),
    2: (
        lambda w, a, b: f"{w.noun(a)} {w.rel(a, b)} {w.noun(b)}",
        lambda w, a, b: f"there is {w.noun(a)} {w.rel(a, b)} {w.noun(b)}",
        lambda w, a, b: f"{w.picture()} {w.noun(a)} {w.rel(a, b)} {w.noun(b)}",
        lambda w, a, b: f"{w.noun(a)} and {w.noun(b)}",
        lambda w, a, b: f"{w.picture()} {w.noun(a)} and {w.noun(b)} {w.background()}",
        lambda w, a, b: f"{w.count(2)}: {w.noun(a)} and {w.noun(b)}",
        lambda w, a, b: f"{w.count(2)} {w.background()}: {w.noun(a)} {w.rel(a, b)} {w.noun(b)}",
        lambda w, a, b: f"{w.noun(b)} with {w.noun(a)} {w.rel(a, b)} it",
        lambda w, a, b: f"{w.noun(a, 'the')} is {w.rel(a, b)} {w.noun(b, 'the')}",
        lambda w, a, b: f"{w.rel(a, b, fronted=True)} {w.noun(b)} there is {w.noun(a)}",
        lambda w, a, b: f"{w.noun(a)} {w.rel(a, b)} {w.noun(b)} {w.background()}",
    ),
    3: (
        lambda w, a, b, c: f"{w.noun(a)}, {w.noun(b)} and {w.noun(c)}",
        lambda w, a, b, c: f"{w.count(3)}: {w.noun(a)}, {w.noun(b)} and {w.noun(c)}",
        lambda w, a, b, c: (f"{w.picture()} {w.noun(a)}, {w.noun(b)} and {w.noun(c)} "
                            f"{w.background()}"),
        lambda w, a, b, c: f"{w.noun(a)} {w.rel(a, b)} {w.noun(b)}, and {w.noun(c)}",
        lambda w, a, b, c: (f"{w.noun(a)} {w.rel(a, b)} {w.noun(b)}, and {w.noun(c)} "
                            f"{w.rel(c, b)} {w.noun(b, 'the')}"),
        lambda w, a, b, c: (f"there are {w.count(3)}: {w.noun(a)} {w.rel(a, b)} {w.noun(b)}, "
                            f"and {w.noun(c)}"),
        lambda w, a, b, c: f"{w.noun(c)} and {w.noun(b)} with {w.noun(a)} {w.rel(a, b)} it",
        lambda w, a, b, c: (f"{w.noun(a)} {w.rel(a, b)} {w.noun(b)} and {w.noun(c)} "
                            f"{w.rel(c, a)} {w.noun(a, 'the')}"),
    ),
}


def write_captions(scene: Scene, rng: np.random.Generator,
                   count: int = CAPTIONS_PER_IMAGE) -> list:
    """`count` distinct Captions of the scene, from distinct templates where there are enough."""
    templates = TEMPLATES[len(scene.objects)]
    captions, texts = [], set()
    for attempt in range(20 * count):
        if len(captions) == count:
            break
        if attempt % len(templates) == 0:
            order = rng.permutation(len(templates))
        writer = _Writer(scene, rng)
        objects = rng.permutation(len(scene.objects)).tolist()
        text = templates[order[attempt % len(templates)]](writer, *objects)
        if text not in texts:
            texts.add(text)
            captions.append(Caption(text, writer.claims()))
    if len(captions) < count:
        raise RuntimeError(f"could not write {count} distinct captions")
    return captions
