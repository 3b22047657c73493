"""What a network method learns from the pixel classifier: dense pseudo-labels, context, a blend.

The pixel forest (method pixel_forest) is fitted on the scribbles first and predicts every
raster of the job; where its top probability reaches `pseudo_confidence`, its class becomes a
pseudo-label of that pixel (255 elsewhere). The network then learns from the scribbles at full
weight and from the pseudo-labels at a weight that falls from `pseudo_weight` to 0 over the run
(cosine): early on the forest's dense map is better than the network, later the network's own
context (and, for mean_teacher, its teacher) should be, so the forest stops pulling it back.

With `forest_context` the network reads the forest's probabilities as extra input channels
instead (models/context.py): it starts from the forest's per-pixel map and learns the shapes
and neighbourhoods a per-pixel classifier cannot see.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from semiseg.data.labels import IGNORE_INDEX
from semiseg.train.methods.base import KEY, MethodParams
from semiseg.train.methods.losses import partial_cross_entropy


BLEND_ON_VALIDATION = ("export the blend of network and pixel forest (weight 0, 0.25, 0.5, 0.75 or 1) that scores best "
                       "on the held-out validation blocks, so a job where the network learns less gets the forest's map")


class PseudoLabelParams(MethodParams):
    pseudo_labels: Literal["none", "pixel_forest"] = Field(
        default="none", json_schema_extra=KEY,
        description="pixel_forest: a pixel forest fitted on the scribbles first labels the unlabelled pixels it is sure of, "
                    "which the network also learns from (most useful with very few scribbles)")
    pseudo_confidence: float = Field(
        default=0.7, ge=0, le=1,  # forest pixels below it give no pseudo-label
        description="forest pixels less confident than this give no pseudo-label: higher, fewer but surer pseudo-labels")
    pseudo_weight: float = Field(
        default=1.0, ge=0,  # at step 0; cosine to 0 by the end of the run
        description="weight of the pseudo-labels' loss at the start, decaying to 0 by the end of the run: "
                    "higher, the network follows the forest longer and more closely")
    # > 0: the exported model averages the network's probabilities with the forest's, this
    # weight on the forest's (models/blend.py). Without pseudo_labels the forest is only fitted
    # on the scribbles for it (it maps no raster before the network trains).
    forest_blend: float = Field(
        default=0.0, ge=0, le=1,
        description="> 0: the exported model averages the network's probabilities with a pixel forest's, this weight on "
                    "the forest's (0: the network alone, 1: the forest alone); used when no validation block is held out")
    # The forest_blend weight (0, 0.25, 0.5, 0.75 or 1) that scores best on the held-out validation
    # blocks instead: where the network learns little (another season, few labels) the forest's
    # map is kept. Where every weight ties or too few pixels are scored the even blend 0.5 is
    # exported (models/blend.py choose_blend_weight; the export event's blend_rule says which).
    # forest_blend applies when the job holds no validation block back.
    blend_on_validation: bool = Field(
        default=False, json_schema_extra=KEY,
        description=BLEND_ON_VALIDATION)
    # The network's input is the bands and the forest's probability of each class (auto-context);
    # the exported model holds both and computes the forest's part itself.
    forest_context: bool = Field(
        default=False,
        description="the network also reads a pixel forest's class probabilities as input (auto-context); "
                    "not combined with forest_blend or blend_on_validation")

    @property
    def uses_forest(self) -> bool:
        """A forest is fitted on the scribbles before the network trains (pipeline/forest_maps.py)."""
        return self.maps_rasters or self.forest_blend > 0 or self.blend_on_validation

    @property
    def maps_rasters(self) -> bool:
        """The network reads the forest's map of every raster (pseudo-labels or context), made before it trains."""
        return self.pseudo_labels == "pixel_forest" or self.forest_context

    def problems(self, class_names: list[str]) -> list[str]:
        # mean_teacher gates by default: with the forest as context there is no blend to gate, and
        # only a gate the job asks for is refused.
        gate_asked = self.blend_on_validation and "blend_on_validation" in self.model_fields_set
        for name, used in (("forest_blend", self.forest_blend > 0), ("blend_on_validation", gate_asked)):
            if used and self.forest_context:
                return [f"job.json: method.{name}: not with forest_context (the network already reads the forest)"]
        return []


def pseudo_weight(progress: float, weight: float) -> float:
    """`weight` at the start, 0 at the end, along half a cosine."""
    return weight * 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def pseudo_label_loss(logits: torch.Tensor, pseudo: torch.Tensor, scribbles: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy on the pseudo-labelled pixels that carry no scribble (those the supervised term has)."""
    if scribbles is not None:
        pseudo = torch.where(scribbles != IGNORE_INDEX, torch.full_like(pseudo, IGNORE_INDEX), pseudo)
    return partial_cross_entropy(logits, pseudo)
