"""Scoring a caption against a scene's ground truth, attribute by attribute.

The caption's objects are matched one-to-one to the scene's objects so as to agree on as many
stated attributes as possible; each stated attribute, relation, count and background word is
then a claim that is right or wrong. This is exact where BLEU is not: it tells whether what a
caption says is true and whether it leaves an object out.
"""

import collections
import dataclasses
import itertools

from caption_aug.data.caption_shapes.claims import Claims
from caption_aug.data.caption_shapes.parser import parse_caption

CLAIM_KINDS = ("shape", "colour", "size", "relation", "count", "background")


@dataclasses.dataclass(frozen=True)
class CaptionScore:
    """`correct[kind]` of `stated[kind]` claims were true, for each kind in CLAIM_KINDS;
    `mentioned` of the scene's `num_objects` objects were named by shape (and colour, if
    stated) by some object of the caption; `repeated`: the caption states a shape (or coloured
    shape) twice or more and more often than the scene holds it ("a blue square and a blue box"
    of one blue square)."""
    claims: Claims
    stated: dict
    correct: dict
    mentioned: int
    num_objects: int
    repeated: bool

    @property
    def num_claims(self) -> int:
        return sum(self.stated.values())

    @property
    def precision(self) -> float:
        """Fraction of stated claims that are true; 0.0 for a caption that states nothing."""
        return sum(self.correct.values()) / self.num_claims if self.num_claims else 0.0

    @property
    def all_true(self) -> bool:
        """The caption names at least one object and every claim it makes is true."""
        return bool(self.claims.objects) and self.correct == self.stated

    @property
    def all_mentioned(self) -> bool:
        return self.mentioned == self.num_objects


def score_caption(caption, attributes: dict) -> CaptionScore:
    """Scores `caption` (text, or Claims already parsed) against a scene's attributes (the
    `metadata` dict of a caption_shapes Example, i.e. `Scene.as_dict()`)."""
    claims = parse_caption(caption) if isinstance(caption, str) else caption
    truth = attributes["objects"]
    relations = {(r["subject"], r["object"]): r["relation"] for r in attributes["relations"]}
    match = match_objects(claims.objects, truth)
    stated = dict.fromkeys(CLAIM_KINDS, 0)
    correct = dict.fromkeys(CLAIM_KINDS, 0)

    def tally(kind, ok):
        stated[kind] += 1
        correct[kind] += bool(ok)

    for k, claim in enumerate(claims.objects):
        true = truth[match[k]] if match[k] is not None else {}
        for kind in ("shape", "colour", "size"):
            if getattr(claim, kind) is not None:
                tally(kind, getattr(claim, kind) == true.get(kind))
    for r in claims.relations:
        pair = (match[r.subject], match[r.object])
        tally("relation", relations.get(pair) == r.relation)
    if claims.count is not None:
        tally("count", claims.count == len(truth))
    background = attributes["background"]
    if claims.background_tone is not None:
        tally("background", claims.background_tone == background["tone"])
    if claims.background_style is not None:
        tally("background", claims.background_style == background["style"])
    mentioned = sum(1 for k, t in enumerate(match) if t is not None
                    and _names(claims.objects[k], truth[t]))
    return CaptionScore(claims, stated, correct, mentioned, len(truth),
                        _repeats(claims.objects, truth))


def caption_matches_scene(caption, attributes: dict) -> bool:
    """True when every claim of the caption is true and it mentions every object."""
    score = score_caption(caption, attributes)
    return score.all_true and score.all_mentioned


def _agreement(claim, true: dict) -> int:
    """Weighted count of agreeing attributes; the shape (the noun) counts double."""
    return sum(weight * (getattr(claim, kind) == true[kind])
               for kind, weight in (("shape", 2), ("colour", 1), ("size", 1))
               if getattr(claim, kind) is not None)


def _names(claim, true: dict) -> bool:
    return claim.shape == true["shape"] and claim.colour in (None, true["colour"])


def _repeats(claimed: tuple, truth: list) -> bool:
    """Some shape, or some coloured shape, is stated at least twice and more often than the
    scene has objects of it."""
    said = collections.Counter(c.shape for c in claimed)
    said.update((c.shape, c.colour) for c in claimed if c.colour is not None)
    held = collections.Counter(t["shape"] for t in truth)
    held.update((t["shape"], t["colour"]) for t in truth)
    return any(n > 1 and n > held[key] for key, n in said.items())


def match_objects(claimed: tuple, truth: list) -> list:
    """For each claimed object, the index of its scene object (or None), one-to-one, with the
    greatest total agreement; ties go to the first such assignment found."""
    best, best_score = [None] * len(claimed), -1
    slots = list(range(len(claimed))) + [None]
    for choice in itertools.product(slots, repeat=len(truth)):
        taken = [c for c in choice if c is not None]
        if len(taken) != len(set(taken)):
            continue
        score = sum(_agreement(claimed[c], truth[t]) for t, c in enumerate(choice)
                    if c is not None)
        if score > best_score:
            best_score, best = score, [None] * len(claimed)
            for t, c in enumerate(choice):
                if c is not None:
                    best[c] = t
    return best
