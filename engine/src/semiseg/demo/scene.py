"""A procedurally generated orthophoto-like scene with its dense ground truth.

Water (a meandering river), bare land, roads, buildings with shadows and vegetation, in
colours and textures close enough to an aerial image that a segmentation network has to
use texture and context, not a single colour threshold. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

CLASSES = [
    {"id": 0, "name": "water", "color": "#1f78b4"},
    {"id": 1, "name": "land", "color": "#d9c89e"},
    {"id": 2, "name": "road", "color": "#7f7f7f"},
    {"id": 3, "name": "building", "color": "#e31a1c"},
    {"id": 4, "name": "vegetation", "color": "#33a02c"},
]
WATER, LAND, ROAD, BUILDING, VEGETATION = range(5)


@dataclass
class Scene:
    image: np.ndarray  # (3, H, W) uint8 RGB
    truth: np.ndarray  # (H, W) uint8 class ids


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Noise in [0, 1] with features about size/cells pixels wide (bicubic upsampling of a coarse grid)."""
    coarse = torch.from_numpy(rng.random((1, 1, cells + 3, cells + 3)).astype(np.float32))
    fine = F.interpolate(coarse, size=(size + size // cells * 3,) * 2, mode="bicubic", align_corners=False)
    out = fine[0, 0, :size, :size].numpy()
    return (out - out.min()) / max(float(out.max() - out.min()), 1e-6)


def make_scene(seed: int, size: int = 512) -> Scene:
    rng = np.random.default_rng(seed)
    truth = np.full((size, size), LAND, dtype=np.uint8)
    rows, cols = np.mgrid[0:size, 0:size]

    # A river meandering from top to bottom.
    centre = size * rng.uniform(0.2, 0.8) + size * 0.12 * np.sin(rows / size * rng.uniform(4, 8) + rng.uniform(0, 6))
    half_width = size * (0.03 + 0.02 * smooth_noise(rng, size, 3))
    water = np.abs(cols - centre) < half_width
    truth[water] = WATER

    # Vegetation patches and tree clumps, never in the water.
    vegetation = (smooth_noise(rng, size, 6) > 0.62) & ~water
    truth[vegetation] = VEGETATION

    # A road grid, crossing the river on bridges.
    road = np.zeros_like(water)
    for _ in range(2):
        r = int(rng.uniform(0.15, 0.85) * size)
        road |= np.abs(rows - r - (cols - size / 2) * rng.uniform(-0.08, 0.08)) < 5
        c = int(rng.uniform(0.15, 0.85) * size)
        road |= np.abs(cols - c - (rows - size / 2) * rng.uniform(-0.08, 0.08)) < 5
    truth[road] = ROAD

    # Buildings with shadows cast to the south-east, on free land only.
    shadow = np.zeros_like(water)
    roof = np.zeros((size, size), dtype=np.int64)  # roof colour index, one per building
    for _ in range(int(size * size / 2500)):
        h, w = rng.integers(10, 34, size=2)
        r, c = rng.integers(0, size - h - 6), rng.integers(0, size - w - 6)
        block = truth[r : r + h + 6, c : c + w + 6]
        if np.any((block == WATER) | (block == ROAD) | (block == BUILDING)):
            continue
        truth[r : r + h, c : c + w] = BUILDING
        roof[r : r + h, c : c + w] = rng.integers(len(_ROOFS))
        shadow[r + 4 : r + h + 4, c + 4 : c + w + 4] = True
    shadow &= truth != BUILDING
    truth[shadow & (truth == VEGETATION)] = LAND  # shadows sit on cleared ground

    image = _paint(rng, truth, shadow, roof, size)
    return Scene(image, truth)


_ROOFS = np.array([(212, 210, 204), (168, 92, 72), (234, 232, 226), (150, 150, 160)], dtype=np.float32)


def _paint(rng: np.random.Generator, truth: np.ndarray, shadow: np.ndarray, roof: np.ndarray, size: int) -> np.ndarray:
    texture = smooth_noise(rng, size, 40) - 0.5
    grain = rng.normal(0, 1, (size, size))
    image = np.zeros((3, size, size), dtype=np.float32)
    base = {
        WATER: (38, 78, 112),
        LAND: (196, 176, 138),
        ROAD: (118, 118, 122),
        VEGETATION: (62, 104, 52),
    }
    for cls, rgb in base.items():
        m = truth == cls
        for b in range(3):
            image[b][m] = rgb[b]
    buildings = truth == BUILDING
    for b in range(3):
        image[b][buildings] = _ROOFS[roof[buildings], b]
    strength = {WATER: 6, LAND: 28, ROAD: 8, BUILDING: 6, VEGETATION: 40}
    for cls, s in strength.items():
        m = truth == cls
        image[:, m] += (s * texture[m] + s * 0.35 * grain[m])[None]
    image[:, shadow] *= 0.55
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)
