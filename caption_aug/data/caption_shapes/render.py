"""Drawing scenes: the background at the output resolution, then the polygons at SUPERSAMPLE x
resolution, box-filtered down so their edges are anti-aliased. A pure function of the scene:
same scene, same pixels."""

import numpy as np
from PIL import Image, ImageDraw

from caption_aug.data.caption_shapes import geometry
from caption_aug.data.caption_shapes.scene import Background, Scene

SUPERSAMPLE = 4
TEXTURE_CELLS = 6   # the noise texture's blotches: a TEXTURE_CELLS^2 grid, smoothly upsampled
GRAIN = 4.0         # std of the per-pixel grain of a textured background, in grey levels


def render(scene: Scene, resolution: int) -> np.ndarray:
    """The scene as a (resolution, resolution, 3) uint8 RGB image."""
    size = resolution * SUPERSAMPLE
    background = Image.fromarray(_background(scene.background, resolution))
    image = background.resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        points = (np.array([obj.x, obj.y]) + obj.radius * geometry.outline(obj.shape)) * size
        draw.polygon([tuple(p) for p in points], fill=tuple(obj.rgb))
    return np.asarray(image.resize((resolution, resolution), Image.BOX))


def _background(background: Background, size: int) -> np.ndarray:
    start, end = (np.array(c, dtype=np.float32) for c in background.colours)
    if background.style == "solid":
        mix = np.zeros((size, size), np.float32)
    elif background.style == "gradient":
        mix = _ramp(background.angle, size)
    else:
        mix = _texture(background.texture_seed, size)
    pixels = start + mix[..., None] * (end - start)
    if background.style == "noise":
        grain = np.random.default_rng(background.texture_seed).normal(0, GRAIN, (size, size, 1))
        pixels = pixels + grain.astype(np.float32)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _ramp(angle: float, size: int) -> np.ndarray:
    """0 -> 1 across the image along direction `angle`."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    t = np.cos(angle) * coords[None, :] + np.sin(angle) * coords[:, None]
    return (t - t.min()) / (t.max() - t.min())


def _texture(seed: int, size: int) -> np.ndarray:
    """Smooth random blotches in [0, 1]."""
    cells = np.random.default_rng(seed + 1).random((TEXTURE_CELLS, TEXTURE_CELLS))
    smooth = Image.fromarray(cells.astype(np.float32)).resize((size, size), Image.BICUBIC)
    t = np.asarray(smooth)
    return (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
