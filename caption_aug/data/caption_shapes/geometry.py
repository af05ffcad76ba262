"""Outlines of the shapes, as polygons in units of an object's radius, y pointing down.

Every outline is centred on the object's position, so the pixel at an object's centre always
shows its colour, and its extent gives the object's bounding box.
"""

import functools

import numpy as np


def _regular(corners: int, radius: float, start_deg: float) -> np.ndarray:
    angles = np.deg2rad(start_deg + 360.0 * np.arange(corners) / corners)
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(points: int = 5, outer: float = 1.0, inner: float = 0.45) -> np.ndarray:
    radii = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    angles = np.deg2rad(-90.0 + 180.0 * np.arange(2 * points) / points)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _cross(arm: float = 0.9, half_width: float = 0.3) -> np.ndarray:
    a, w = arm, half_width
    return np.array([(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w),
                     (w, a), (-w, a), (-w, w), (-a, w), (-a, -w), (-w, -w)])


_OUTLINES = {
    "circle": lambda: _regular(96, 0.9, 0.0),
    "square": lambda: np.array([(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]),
    "triangle": lambda: _regular(3, 1.0, -90.0),
    "star": _star,
    "diamond": lambda: np.array([(0.0, -1.0), (0.65, 0.0), (0.0, 1.0), (-0.65, 0.0)]),
    "cross": _cross,
    "hexagon": lambda: _regular(6, 0.95, 0.0),
}


@functools.cache
def outline(shape: str) -> np.ndarray:
    """The shape's polygon, shape (k, 2) as (x, y), for an object of radius 1 centred at 0."""
    vertices = _OUTLINES[shape]()
    vertices.setflags(write=False)
    return vertices


def bbox(shape: str, x: float, y: float, radius: float) -> tuple:
    """Bounding box (ymin, xmin, ymax, xmax) as fractions of the image, clipped to [0, 1]."""
    points = np.array([x, y]) + radius * outline(shape)
    (xmin, ymin), (xmax, ymax) = points.min(axis=0), points.max(axis=0)
    return tuple(float(np.clip(v, 0.0, 1.0)) for v in (ymin, xmin, ymax, xmax))
