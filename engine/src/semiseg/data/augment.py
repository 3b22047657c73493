"""Label-preserving geometric augmentation shared by every method."""

from __future__ import annotations

import numpy as np


def random_dihedral(rng: np.random.Generator, *arrays: np.ndarray) -> list[np.ndarray]:
    """Apply one of the 8 flips/90-degree rotations to every array (last two axes), the same to all."""
    k = int(rng.integers(4))
    flip = bool(rng.integers(2))
    out = []
    for a in arrays:
        a = np.rot90(a, k, axes=(-2, -1))
        if flip:
            a = a[..., ::-1]
        out.append(np.ascontiguousarray(a))
    return out
