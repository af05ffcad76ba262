"""Sampling scenes: 1-3 objects (shape, colour, size, position) on a near-grey background.

A scene is ground truth: everything a caption may claim (attributes, the spatial relation of
every pair, the background) is read off it. Positions keep objects apart and every pair clearly
offset along one axis, so "left of" or "above" is never a judgement call.
"""

import dataclasses
import functools
import itertools

import numpy as np

from caption_aug.data.caption_shapes import geometry
from caption_aug.data.caption_shapes import vocabulary as vocab

MAX_OBJECTS = 3
SIZE_RADII = {"small": (0.08, 0.10), "large": (0.14, 0.16)}  # fractions of the image side
EDGE_MARGIN = 0.02      # between an object's circle and the image border
GAP = 0.04              # between two objects' circles
AXIS_RATIO = 1.5        # each pair: offset along its main axis >= AXIS_RATIO x the other one
COLOUR_JITTER = 15      # per RGB channel, around the palette colour
TONE_LEVELS = {"light": (170, 245), "dark": (15, 80)}  # grey level range of each tone
DECIMALS = 4            # positions are rounded, so stored and recomputed values agree exactly

_KINDS = {**{s: "shape" for s in vocab.SHAPES}, **{c: "colour" for c in vocab.COLOURS},
          **{z: "size" for z in vocab.SIZES}}
_TRIPLES = tuple(itertools.product(vocab.SHAPES, vocab.COLOURS, vocab.SIZES))


@dataclasses.dataclass(frozen=True)
class SceneObject:
    """One object; x, y (centre) and radius are fractions of the image side, y points down."""
    shape: str
    colour: str
    size: str
    x: float
    y: float
    radius: float
    rgb: tuple


@dataclasses.dataclass(frozen=True)
class Background:
    """Near-grey background: `colours` are the two ends of a gradient or the two levels of a
    texture (equal when solid); `angle` and `texture_seed` only matter for drawing."""
    style: str
    tone: str
    colours: tuple
    angle: float = 0.0
    texture_seed: int = 0


@dataclasses.dataclass(frozen=True)
class Scene:
    """The objects, the background, and whether an object shows a held-out combination."""
    objects: tuple
    background: Background
    novel: bool = False

    def relation(self, i: int, j: int) -> str:
        """Where object i is relative to object j: one of vocabulary.RELATIONS."""
        return relation_between(self.objects[i], self.objects[j])

    def as_dict(self) -> dict:
        """The ground-truth attributes, JSON-serialisable (the `metadata` of an Example)."""
        return {
            "objects": [{
                "shape": o.shape, "colour": o.colour, "size": o.size,
                "x": o.x, "y": o.y, "radius": o.radius,
                "bbox": [round(v, DECIMALS) for v in geometry.bbox(o.shape, o.x, o.y, o.radius)],
                "rgb": list(o.rgb),
            } for o in self.objects],
            "relations": [{"subject": i, "relation": self.relation(i, j), "object": j}
                          for i, j in itertools.permutations(range(len(self.objects)), 2)],
            "background": {"style": self.background.style, "tone": self.background.tone,
                           "colours": [list(c) for c in self.background.colours]},
            "novel": self.novel,
        }


def relation_between(a, b) -> str:
    """Where `a` is relative to `b`, along the axis on which they are further apart."""
    dx, dy = a.x - b.x, a.y - b.y
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def normalise_holdout(holdout) -> tuple:
    """Validated, canonical form of held-out attribute combinations (a tuple of tuples).

    Each combination names values of distinct attributes, e.g. ("red", "circle") or
    ("large", "star"); an object shows it when it has all of them. Raises ValueError naming
    the config key `holdout` on an unknown value or a repeated attribute.
    """
    order = {"shape": 0, "colour": 1, "size": 2}
    combinations = set()
    for combination in holdout or ():
        if isinstance(combination, str):
            raise ValueError(f"holdout: expected combinations like ('red', 'circle'), "
                             f"got the string {combination!r}")
        values = tuple(str(v).strip().lower() for v in combination)
        unknown = [v for v in values if v not in _KINDS]
        kinds = [_KINDS[v] for v in values if v in _KINDS]
        if not values or unknown or len(set(kinds)) != len(kinds):
            raise ValueError(f"holdout: {tuple(combination)!r} must name known values of "
                             f"distinct attributes (shapes {vocab.SHAPES}, colours "
                             f"{vocab.COLOURS}, sizes {vocab.SIZES})")
        combinations.add(tuple(sorted(values, key=lambda v: order[_KINDS[v]])))
    result = tuple(sorted(combinations))
    if not _pools(result)[0]:
        raise ValueError(f"holdout: {result!r} holds out every object, nothing left to train on")
    return result


def shows_combination(triple: tuple, holdout: tuple) -> bool:
    """Whether a (shape, colour, size) triple shows any of the held-out combinations."""
    return any(set(combination) <= set(triple) for combination in holdout)


@functools.cache
def _pools(holdout: tuple) -> tuple:
    """(allowed, held-out) lists of (shape, colour, size) triples."""
    allowed = [t for t in _TRIPLES if not shows_combination(t, holdout)]
    held_out = [t for t in _TRIPLES if shows_combination(t, holdout)]
    return allowed, held_out


def sample_scene(rng: np.random.Generator, holdout: tuple = (), novel: bool = False) -> Scene:
    """A random scene. Objects never show a held-out combination, except that with
    `novel=True` exactly one of them does. Objects differ in (shape, colour), so every
    caption can name each of them unambiguously. `holdout` must be normalised."""
    allowed, held_out = _pools(holdout)
    if novel and not held_out:
        raise ValueError("a novel scene needs a non-empty holdout")
    count = int(rng.integers(1, MAX_OBJECTS + 1))
    triples = [held_out[rng.integers(len(held_out))]] if novel else []
    while len(triples) < count:
        triple = allowed[rng.integers(len(allowed))]
        if all(triple[:2] != t[:2] for t in triples):
            triples.append(triple)
    triples = [triples[k] for k in rng.permutation(count)]
    radii = [round(float(rng.uniform(*SIZE_RADII[size])), DECIMALS) for _, _, size in triples]
    positions = _place(rng, radii)
    objects = tuple(
        SceneObject(shape, colour, size, x, y, radius, _jitter(rng, vocab.PALETTE[colour]))
        for (shape, colour, size), radius, (x, y) in zip(triples, radii, positions))
    return Scene(objects, _sample_background(rng), novel)


def _place(rng: np.random.Generator, radii: list, attempts: int = 10_000) -> list:
    """Centres inside the image, objects apart, every pair clearly offset along one axis."""
    low = np.array(radii)[:, None] + EDGE_MARGIN
    for _ in range(attempts):
        points = np.round(rng.uniform(low, 1 - low, size=(len(radii), 2)), DECIMALS).tolist()
        if all(_separated(points[i], points[j], radii[i] + radii[j])
               for i, j in itertools.combinations(range(len(points)), 2)):
            return points
    raise RuntimeError(f"could not place objects of radii {radii}")


def _separated(p: tuple, q: tuple, radii_sum: float) -> bool:
    dx, dy = abs(p[0] - q[0]), abs(p[1] - q[1])
    return (np.hypot(dx, dy) >= radii_sum + GAP
            and max(dx, dy) >= AXIS_RATIO * min(dx, dy))


def _jitter(rng: np.random.Generator, rgb: tuple) -> tuple:
    noise = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(rgb) + noise, 0, 255))


def _sample_background(rng: np.random.Generator) -> Background:
    tone = vocab.TONES[rng.integers(len(vocab.TONES))]
    style = vocab.STYLES[rng.integers(len(vocab.STYLES))]
    low, high = TONE_LEVELS[tone]
    level = rng.uniform(low, high)
    other = level if style == "solid" else np.clip(
        level + rng.choice([-1, 1]) * rng.uniform(25, 45), low, high)
    colours = tuple(_grey(rng, v) for v in (level, other))
    if style == "solid":
        colours = (colours[0], colours[0])
    return Background(style, tone, colours, angle=round(float(rng.uniform(0, 2 * np.pi)), 4),
                      texture_seed=int(rng.integers(2**31)))


def _grey(rng: np.random.Generator, level: float) -> tuple:
    """A grey of the given level with a faint tint, far from every saturated object colour."""
    tint = rng.integers(-10, 11, size=3)
    return tuple(int(v) for v in np.clip(level + tint, 0, 255))
