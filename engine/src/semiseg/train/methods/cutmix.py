"""CutMix of unlabeled windows for consistency training (French et al. BMVC 2020; UniMatch's box sampling).

A box of one window is pasted into its neighbour in the batch, and the teacher's predictions on
the two clean windows are pasted alike, so the student must segment content cut out of its
context, a perturbation that photometric jitter and a smooth warp cannot give (in segmentation
the low-density regions lie between objects, not between images).
"""

from __future__ import annotations

import torch

AREA = (0.02, 0.4)  # box area as a fraction of the window (UniMatch)
ASPECT = (0.3, 1 / 0.3)  # box width / height


def random_boxes(batch: int, height: int, width: int, generator: torch.Generator, probability: float) -> torch.Tensor:
    """(B,H,W) bool: one box per window, drawn with the given probability (all False otherwise)."""
    dev = generator.device
    u = torch.rand(batch, 5, generator=generator, device=dev, dtype=torch.float64)
    area = (AREA[0] + (AREA[1] - AREA[0]) * u[:, 0]) * height * width
    aspect = ASPECT[0] + (ASPECT[1] - ASPECT[0]) * u[:, 1]
    box_h = (area / aspect).sqrt().round().clamp(1, height).long()
    box_w = (area * aspect).sqrt().round().clamp(1, width).long()
    top = (u[:, 2] * (height - box_h + 1)).floor().long()
    left = (u[:, 3] * (width - box_w + 1)).floor().long()
    rows = torch.arange(height, device=dev)[None, :, None]
    cols = torch.arange(width, device=dev)[None, None, :]
    inside = (rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
    inside = inside & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None])
    return inside & (u[:, 4] < probability)[:, None, None]


def paste_from_neighbour(tensor: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Window i takes window i+1's pixels (cyclically) inside its box; (B,...,H,W) tensors of any dtype."""
    mask = boxes.reshape(boxes.shape[0], *([1] * (tensor.dim() - 3)), *boxes.shape[1:])
    return torch.where(mask, tensor.roll(-1, 0), tensor)
