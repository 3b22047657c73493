"""Label-preserving geometric augmentation shared by every method (job.json train.augment)."""

from __future__ import annotations

from typing import Literal

import numpy as np

# "dihedral": the 8 flips and 90-degree rotations, for imagery seen from above (no "up" on a map);
# "horizontal_flip": left-right mirroring only, for sections whose vertical axis is depth (seismic),
# where a rotated or upside-down window shows the network geology that does not occur; "none".
Augment = Literal["dihedral", "horizontal_flip", "none"]


def random_geometry(rng: np.random.Generator, augment: Augment, *arrays: np.ndarray) -> list[np.ndarray]:
    """Apply one random transform of the `augment` family to every array (last two axes), the same to all.

    The same two numbers are drawn whatever the family, so the windows a seed cuts after this
    are the same with every setting (paired comparisons stay paired).
    """
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    if augment != "dihedral":
        k = 0
    if augment == "none":
        flip = False
    out = []
    for a in arrays:
        a = np.rot90(a, k, axes=(-2, -1))
        if flip:
            a = a[..., ::-1]
        out.append(np.ascontiguousarray(a))
    return out
