"""Pixel classifier: a random forest on per-pixel filter features, as in ilastik and dzetsaka.

The classic tool a GIS analyst already has, and the baseline every network method is measured
against (docs/benchmarks.md). It trains in about a minute on a CPU and needs no unlabelled
rasters, which makes it the quick first map. It trains no network: train/forest.py fits it,
models/forest.py holds and applies it, models/filter_bank.py computes its features.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from semiseg.models.filter_bank import DEFAULT_SCALES
from semiseg.models.forest import FOREST_ARCH
from semiseg.train.methods.base import KEY, MethodParams


class PixelForestParams(MethodParams):
    # Half ilastik's and dzetsaka's 100: the traversal, most of a forest's prediction time, is
    # linear in the trees, and 50 scored within seed noise of 100 on every development split
    # (30 did not on s2-strzegom; docs/benchmarks.md, issue 39). Packages keep the trees they hold.
    trees: int = Field(default=50, ge=1, le=1000, json_schema_extra=KEY,
                       description="trees of the random forest: more, a slightly steadier map, slower to fit and to predict")
    # Labelled pixels the forest learns from at most, drawn at random (per class, with
    # train.class_balanced): training time grows with them, quality barely past a few ten thousand.
    max_pixels: int = Field(default=50000, ge=100, json_schema_extra=KEY,
                            description="labelled pixels the forest learns from at most (drawn at random): more, slower "
                                        "fitting, rarely a better map past a few ten thousand")
    scales: list[float] = Field(default=list(DEFAULT_SCALES), min_length=1, max_length=12,  # Gaussian sigmas in pixels
                                description="Gaussian scales (sigma, px) of the filter features: larger ones see wider texture "
                                            "and context, smaller ones fine edges")
    min_samples_leaf: int = Field(default=1, ge=1,
                                  description="fewest labelled pixels in a leaf of a tree: higher, smoother, less detailed maps")

    @field_validator("scales")
    @classmethod
    def _scales_in_range(cls, value: list[float]) -> list[float]:
        if any(not 0.3 <= s <= 32 for s in value):
            raise ValueError(f"scales {value}: each sigma must lie in 0.3..32 pixels")
        return sorted(value)


class PixelForest:
    """Registry entry: describes the method like a network method, trains no network."""

    Params: ClassVar[type[MethodParams]] = PixelForestParams
    trains_network: ClassVar[bool] = False
    uses_unlabeled: ClassVar[bool] = False
    default_arch: ClassVar[str] = FOREST_ARCH
    supports_domains: ClassVar[bool] = False
    needs_domains: ClassVar[bool] = False
