"""A validated split in memory: images (paths or bytes), clean captions, and their token ids."""

import dataclasses
from typing import Any, List, Optional

import numpy as np


@dataclasses.dataclass
class Split:
    """One split after validation. Captions are normalised; `images` are paths or encoded bytes.

    Captions are also addressed flat, in image order: caption k of the flat list belongs to image
    `caption_image_index[k]`. The flat index of a train caption is its global index i, the one
    that selects its weight a_i in stage 4.
    """
    name: str
    image_ids: np.ndarray                  # int64 [num_images]
    images: List[Any]                      # str paths or bytes, aligned with image_ids
    captions: List[List[str]]              # normalised captions per image
    metadata: Optional[List[Any]] = None   # per-image ground truth (caption_shapes)
    caption_tokens: Optional[List[List[int]]] = None  # flat, without start/end; set by prepare

    @property
    def num_images(self) -> int:
        return len(self.images)

    @property
    def images_are_paths(self) -> bool:
        return bool(self.images) and isinstance(self.images[0], str)

    @property
    def flat_captions(self) -> List[str]:
        return [c for caps in self.captions for c in caps]

    @property
    def caption_image_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_images, dtype=np.int32),
                         [len(caps) for caps in self.captions])

    @property
    def caption_row_starts(self) -> np.ndarray:
        """Flat index of each image's first caption."""
        counts = np.array([len(caps) for caps in self.captions], dtype=np.int64)
        return (np.cumsum(counts) - counts).astype(np.int32)
