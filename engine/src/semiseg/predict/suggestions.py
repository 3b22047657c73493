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

A model with a second opinion (a mean teacher's student, models/second_opinion.py) adds the
two networks' disagreement, the total variation between their probabilities (0 to 1), to each
pixel's doubt: where training still moved the prediction when it stopped, even a confident one,
the labels did not settle it. The two count alike (a cell's score then runs from 0 to 2); no
measurement has weighed them yet (docs/benchmarks.md, the labelling loop).
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
    score: float  # mean doubt 1 - (p1 - p2) of the region's valid pixels (+ the mean disagreement with a second opinion)
    row: int  # the region: rows [row, row + rows) and columns [col, col + cols) of the map
    col: int
    rows: int
    cols: int
    predicted: int  # class ids
    runner_up: int


@dataclass(frozen=True)
class CellGrid:
    """Square cells of `cell` pixels over a map of `height` x `width` (the last ones cut short)."""

    height: int
    width: int
    cell: int = CELL

    @property
    def rows(self) -> int:
        return -(-self.height // self.cell)

    @property
    def cols(self) -> int:
        return -(-self.width // self.cell)

    def index(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The cell of each pixel (rows, cols of the map)."""
        return (rows // self.cell) * self.cols + cols // self.cell

    def bounds(self, c: int) -> tuple[int, int, int, int]:
        """(row, col, rows, cols) of cell `c` on the map."""
        r0, c0 = divmod(int(c), self.cols)
        return r0 * self.cell, c0 * self.cell, min(self.cell, self.height - r0 * self.cell), min(self.cell, self.width - c0 * self.cell)

    def spread(self, score: np.ndarray, eligible: np.ndarray, count: int, min_distance: float) -> list[int]:
        """Up to `count` of the `eligible` cells, highest `score` first, each dropped whose centre
        lies closer than `min_distance` pixels to one taken (greedy non-maximum suppression);
        ties: the first cell in reading order first."""
        order = eligible[np.argsort(-score[eligible], kind="stable")]
        taken, centres = [], np.empty((0, 2))
        for c in order:
            row, col, rows, cols = self.bounds(c)
            centre = np.array([row + rows / 2, col + cols / 2])
            if len(centres) and np.hypot(*(centres - centre).T).min() < min_distance:
                continue
            taken.append(int(c))
            centres = np.vstack([centres, centre])
            if len(taken) == count:
                break
        return taken


class DoubtTally:
    """Per-cell sums of a map's doubt and class probabilities, fed strip by strip."""

    def __init__(self, height: int, width: int, num_classes: int, cell: int = CELL):
        self.grid = CellGrid(height, width, cell)
        cells = self.grid.rows * self.grid.cols
        self.doubt = np.zeros(cells, np.float64)
        self.count = np.zeros(cells, np.int64)  # valid pixels
        self.probability = np.zeros((num_classes, cells), np.float64)

    def add(self, top: int, probabilities: np.ndarray, valid: np.ndarray, disagreement: np.ndarray | None = None) -> None:
        """Rows [top, top + n) of the map: (classes, n, width) probabilities, (n, width) validity
        and, with a second opinion, its (n, width) disagreement."""
        if probabilities.shape[0] < 2 or not valid.any():
            return
        rows, cols = np.nonzero(valid)
        p = probabilities[:, rows, cols]  # (classes, valid pixels)
        two = np.partition(p, -2, axis=0)[-2:]
        doubt = 1.0 - (two[1] - two[0])
        if disagreement is not None:
            doubt = doubt + disagreement[rows, cols]
        cell = self.grid.index(top + rows, cols)
        cells = len(self.count)
        self.doubt += np.bincount(cell, weights=doubt, minlength=cells)
        self.count += np.bincount(cell, minlength=cells)
        for k in range(len(self.probability)):
            self.probability[k] += np.bincount(cell, weights=p[k], minlength=cells)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums, to be saved with a block of a prediction (predict/parts.py) and added back."""
        shape = np.array([self.grid.height, self.grid.width])
        return {"shape": shape, "doubt": self.doubt, "count": self.count, "probability": self.probability}

    def add_block(self, row: int, col: int, arrays: dict[str, np.ndarray]) -> None:
        """The sums of a block's tally (`arrays`) whose pixel (0, 0) is the map's (row, col),
        both multiples of the cell size, so that each of its cells is one of the map's."""
        height, width = (int(n) for n in arrays["shape"])
        block = CellGrid(height, width, self.grid.cell)
        r, c = np.divmod(np.arange(block.rows * block.cols), block.cols)
        index = (row // self.grid.cell + r) * self.grid.cols + col // self.grid.cell + c
        self.doubt[index] += arrays["doubt"]
        self.count[index] += arrays["count"]
        self.probability[:, index] += arrays["probability"]

    def eligible(self, min_pixels: int = MIN_PIXELS) -> np.ndarray:
        """The cells with at least `min_pixels` valid pixels (all of a cell cut short by the map's edge will do)."""
        return np.flatnonzero(self.count >= min(min_pixels, self.grid.cell * self.grid.cell))

    def suggestions(self, count: int = DEFAULT_COUNT, min_distance: float = MIN_DISTANCE, min_pixels: int = MIN_PIXELS) -> list[Suggestion]:
        """Up to `count` regions, best first, no two centres closer than `min_distance` pixels."""
        eligible = self.eligible(min_pixels)
        if count <= 0 or not len(eligible):
            return []
        score = np.zeros(len(self.count))
        score[eligible] = self.doubt[eligible] / self.count[eligible]
        out = []
        for rank, c in enumerate(self.grid.spread(score, eligible, count, min_distance), 1):
            mean = self.probability[:, c] / self.count[c]
            first, second = np.argsort(-mean, kind="stable")[:2]
            out.append(Suggestion(rank, round(float(score[c]), 6), *self.grid.bounds(c), int(first), int(second)))
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
