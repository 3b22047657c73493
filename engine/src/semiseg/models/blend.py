"""A network and the pixel forest as one model: their class probabilities averaged.

The two err differently: the forest on per-pixel texture and colour without context, the
network with context but from few labels. Averaging the probabilities,
p = (1 - w) p_network + w p_forest, gave a better map than either on the development splits
(docs/benchmarks.md). The package holds both: the network's tensors under `network.`, the
forest's arrays under `forest.` (model.json `forest_blend` = w).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from semiseg.models.forest import PixelForest


# The weights `blend_on_validation` chooses from (train/methods/pseudo.py): 0 is the network alone, 1 the forest.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)

# The weight the gate falls back to when the validation blocks cannot tell the weights apart: the
# even blend. On the development splits (docs/benchmarks.md, "gate rule", seeds 0-2) every fixed
# weight of 0.5 or less beat the weight the validation blocks chose (aerial-dubai 43.5-44.4 against
# 41.3 mIoU %, seismic-tgs-salt 65.3-66.2 against 64.6), and 0.5 is the best of them on seismic.
EVEN_BLEND = 0.5
# Scores closer than this are a tie (equal mIoU up to float noise).
TIE_TOLERANCE = 1e-9
# Fewer labelled validation pixels than this and the blocks' verdict is not a measurement: the
# binomial standard error of an accuracy of 0.9 on 1000 pixels is about 1 point (sqrt(0.09 / 1000)),
# as large as the differences between the weights on the development splits (0.7-2 points), and
# the pixels of one scribble stroke are far from independent, so the real error is larger still.
# The development splits score 4300-23000 validation pixels (aerial, seismic, s2 season): above it.
MIN_VALIDATION_PIXELS = 1000


def choose_blend_weight(miou: dict[float, float], pixels: int) -> tuple[float, str]:
    """The gate's weight and the rule that chose it, from each weight's validation mIoU and the
    number of labelled validation pixels scored.

    "best on validation" when the blocks separate the weights (a tie for the best goes to the
    weight nearest the even blend); the even blend, saying why, when every weight ties or too few
    pixels were scored."""
    if pixels < MIN_VALIDATION_PIXELS:
        return EVEN_BLEND, f"{pixels} validation pixels < {MIN_VALIDATION_PIXELS}: even blend"
    best, worst = max(miou.values()), min(miou.values())
    if best - worst <= TIE_TOLERANCE:
        return EVEN_BLEND, "ties on validation: even blend"
    tied = [w for w, v in miou.items() if v >= best - TIE_TOLERANCE]
    return min(tied, key=lambda w: (abs(w - EVEN_BLEND), w)), "best on validation"


class ForestBlend(nn.Module):
    wants_valid_mask = True  # the forest reads it (models/forest.py)

    def __init__(self, network: nn.Module, forest: PixelForest, weight: float):
        super().__init__()
        self.network, self.forest, self.weight = network, forest, float(weight)

    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Log of the blended class probabilities (a softmax of it gives them back)."""
        p_network, p_forest = self.probabilities(images, valid)
        return torch.log(blend(p_network, p_forest, self.weight).clamp_min(1e-12))

    def probabilities(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Each part's class probabilities, (network, forest)."""
        return self.network(images).float().softmax(1), self.forest(images, valid).exp()


def blend(p_network: torch.Tensor, p_forest: torch.Tensor, weight: float) -> torch.Tensor:
    return (1 - weight) * p_network + weight * p_forest


def split_tensors(tensors: dict[str, torch.Tensor], part: str) -> dict[str, torch.Tensor]:
    """The tensors of one part (`network` or `forest`) of a blended package, without the prefix."""
    prefix = part + "."
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
