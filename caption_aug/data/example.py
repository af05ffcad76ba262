"""The one example structure every data source produces, and the counter of skipped items."""

import collections
import dataclasses
from typing import Any, Mapping, Optional, Union


@dataclasses.dataclass(frozen=True)
class Example:
    """One image with its captions, as read from a source, before any validation.

    `image` is a file path (str) for folder-based sources or the encoded image bytes for tfds
    sources. Captions are raw text as read; a caption that was not valid UTF-8 in its file keeps
    its bad bytes as surrogate escapes (see `text_io.read_text`) so validation can count it.
    `metadata` holds source-specific ground truth (caption_shapes attributes), JSON-serialisable.
    """
    image_id: int
    image: Union[str, bytes]
    captions: tuple
    metadata: Optional[Mapping[str, Any]] = None


class SkipCounter:
    """Counts skipped items by reason and keeps a few examples of each for the summary."""

    def __init__(self, max_examples_per_reason: int = 5):
        self.counts = collections.Counter()
        self.examples = collections.defaultdict(list)
        self._max_examples = max_examples_per_reason

    def skip(self, reason: str, item: str = "") -> None:
        self.counts[reason] += 1
        if item and len(self.examples[reason]) < self._max_examples:
            self.examples[reason].append(item)

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict:
        return {reason: {"count": count, "examples": self.examples[reason]}
                        for reason, count in sorted(self.counts.items())}
