"""Where the next label teaches the model most: ranked, spread-out regions of a prediction's doubt.

A pixel's doubt is 1 - (p1 - p2), one minus the margin between its two most probable classes in
the blended probabilities (1: a tie, 0: certain); the margin ranks like entropy for the pixels a
label would settle, and does not grow with the class count. Pixels are pooled into square cells
of CELL x CELL pixels, as the predicted strips go by; a cell's score is the mean doubt of its
valid pixels, so a cell mostly of nodata (fewer than `min_pixels` valid pixels) is never
suggested. Greedy non-maximum suppression then takes the best cell, drops every cell whose
centre lies closer than `min_distance` pixels to one taken, and goes on, so the suggestions
spread over the raster instead of piling up along one doubtful edge. Each suggestion carries
the class the model predicts there (the top class of the cell's mean probabilities) and the
runner-up it hesitates with. Memory: a few numbers per cell, whatever the raster's size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from semiseg.io.atomic import atomic_path

CELL = 32  # pixels on a side of a suggested region
DEFAULT_COUNT = 20
MIN_DISTANCE = 3 * CELL  # pixels between the centres of two suggestions, at least
MIN_PIXELS = CELL * CELL // 2  # valid pixels a cell needs to be suggested
FIELDS = ("rank", "score", "class_id", "class", "runner_up_id", "runner_up")


@dataclass(frozen=True)
class Suggestion:
    rank: int  # 1 = where a label helps most
    score: float  # mean doubt 1 - (p1 - p2) of the region's valid pixels
    row: int  # the region: rows [row, row + rows) and columns [col, col + cols) of the map
    col: int
    rows: int
    cols: int
    predicted: int  # class ids
    runner_up: int


class DoubtTally:
    """Per-cell sums of a map's doubt and class probabilities, fed strip by strip."""

    def __init__(self, height: int, width: int, num_classes: int, cell: int = CELL):
        self.height, self.width, self.cell, self.num_classes = height, width, cell, num_classes
        self.cell_rows, self.cell_cols = -(-height // cell), -(-width // cell)
        cells = self.cell_rows * self.cell_cols
        self.doubt = np.zeros(cells, np.float64)
        self.count = np.zeros(cells, np.int64)
        self.probability = np.zeros((num_classes, cells), np.float64)

    def add(self, top: int, probabilities: np.ndarray, valid: np.ndarray) -> None:
        """Rows [top, top + n) of the map: (classes, n, width) probabilities and (n, width) validity."""
        if probabilities.shape[0] < 2 or not valid.any():
            return
        rows, cols = np.nonzero(valid)
        p = probabilities[:, rows, cols]  # (classes, valid pixels)
        two = np.partition(p, -2, axis=0)[-2:]
        cell = ((top + rows) // self.cell) * self.cell_cols + cols // self.cell
        cells = len(self.count)
        self.doubt += np.bincount(cell, weights=1.0 - (two[1] - two[0]), minlength=cells)
        self.count += np.bincount(cell, minlength=cells)
        for k in range(self.num_classes):
            self.probability[k] += np.bincount(cell, weights=p[k], minlength=cells)

    def suggestions(self, count: int = DEFAULT_COUNT, min_distance: float = MIN_DISTANCE, min_pixels: int = MIN_PIXELS) -> list[Suggestion]:
        """Up to `count` regions, best first, no two centres closer than `min_distance` pixels."""
        eligible = np.flatnonzero(self.count >= min(min_pixels, self.cell * self.cell))
        if count <= 0 or not len(eligible):
            return []
        score = self.doubt[eligible] / self.count[eligible]
        order = eligible[np.argsort(-score, kind="stable")]  # ties: the first cell in reading order first
        taken: list[int] = []
        centres = []
        for c in order:
            r0, c0 = divmod(int(c), self.cell_cols)
            rows, cols = min(self.cell, self.height - r0 * self.cell), min(self.cell, self.width - c0 * self.cell)
            centre = np.array([r0 * self.cell + rows / 2, c0 * self.cell + cols / 2])
            if centres and np.min(np.hypot(*(np.array(centres) - centre).T)) < min_distance:
                continue
            taken.append(int(c))
            centres.append(centre)
            if len(taken) == count:
                break
        out = []
        for rank, c in enumerate(taken, 1):
            r0, c0 = divmod(c, self.cell_cols)
            mean = self.probability[:, c] / self.count[c]
            first, second = np.argsort(-mean, kind="stable")[:2]
            out.append(Suggestion(rank, round(float(self.doubt[c] / self.count[c]), 6), r0 * self.cell, c0 * self.cell,
                                  min(self.cell, self.height - r0 * self.cell), min(self.cell, self.width - c0 * self.cell),
                                  int(first), int(second)))
        return out


def write_suggestions(suggestions: list[Suggestion], path: Path, transform: Affine, crs, class_names: list[str]) -> Path:
    """The regions as a GeoPackage of polygons (FIELDS), in the map's coordinates and CRS."""
    import geopandas as gpd  # with the polygons: only when a prediction writes suggestions
    import pandas as pd
    from shapely.geometry import Polygon

    def polygon(s: Suggestion) -> Polygon:
        corners = [(s.col, s.row), (s.col + s.cols, s.row), (s.col + s.cols, s.row + s.rows), (s.col, s.row + s.rows)]
        return Polygon([transform @ corner for corner in corners])

    frame = gpd.GeoDataFrame(
        {
            "rank": pd.Series([s.rank for s in suggestions], dtype="int32"),
            "score": pd.Series([s.score for s in suggestions], dtype="float64"),
            "class_id": pd.Series([s.predicted for s in suggestions], dtype="int32"),
            "class": pd.Series([class_names[s.predicted] for s in suggestions], dtype=object),
            "runner_up_id": pd.Series([s.runner_up for s in suggestions], dtype="int32"),
            "runner_up": pd.Series([class_names[s.runner_up] for s in suggestions], dtype=object),
        },
        geometry=[polygon(s) for s in suggestions],
        crs=crs,
    )
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.filterwarnings("ignore", "'crs' was not provided")  # a seismic section has none, on purpose
        frame.to_file(tmp, driver="GPKG", layer=Path(path).stem, geometry_type="Polygon", dataset_options={"VERSION": "1.2"})
    return Path(path)
