"""caption_shapes: the embedded default dataset of procedural scenes with exact ground truth.

Scenes of 1-3 coloured shapes on a near-grey background, 5 captions each from a small English
grammar, built offline by a tfds builder; a parser and scorer check captions against the truth.
"""

from caption_aug.data.caption_shapes.builder import CaptionShapes, CaptionShapesConfig
from caption_aug.data.caption_shapes.claims import Claims, ObjectClaim, RelationClaim
from caption_aug.data.caption_shapes.grammar import write_captions
from caption_aug.data.caption_shapes.loader import load_caption_shapes, prepare_caption_shapes
from caption_aug.data.caption_shapes.parser import parse_caption
from caption_aug.data.caption_shapes.render import render
from caption_aug.data.caption_shapes.scene import Scene, sample_scene
from caption_aug.data.caption_shapes.scoring import (CLAIM_KINDS, CaptionScore,
                                                     caption_matches_scene, score_caption)

__all__ = [
    "CaptionShapes", "CaptionShapesConfig", "Claims", "ObjectClaim", "RelationClaim",
    "write_captions", "load_caption_shapes", "prepare_caption_shapes", "parse_caption", "render",
    "Scene", "sample_scene", "CLAIM_KINDS", "CaptionScore", "caption_matches_scene",
    "score_caption",
]
