"""What a caption states about a scene: the common currency of the grammar, parser and scorer.

Objects are listed in the order the caption first mentions them; an attribute the caption does
not state is None. Relations point into that list. Two Claims are equal when a caption states
exactly the same facts, whatever order it states its relations in.
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ObjectClaim:
    """One object as described: "a small red circle" -> ("circle", "red", "small")."""
    shape: str
    colour: Optional[str] = None
    size: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RelationClaim:
    """objects[subject] is `relation` (e.g. "left of") objects[object]."""
    subject: int
    relation: str
    object: int


@dataclasses.dataclass(frozen=True)
class Claims:
    """Everything one caption states; `count` is a stated number of objects."""
    objects: tuple = ()
    relations: tuple = ()
    count: Optional[int] = None
    background_tone: Optional[str] = None
    background_style: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "objects", tuple(self.objects))
        unique = set(self.relations)
        object.__setattr__(self, "relations", tuple(
            sorted(unique, key=lambda r: (r.subject, r.object, r.relation))))
