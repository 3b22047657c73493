"""`semiseg evaluate`: score a class raster against labels, window by window, on labelled pixels only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semiseg.data.labels import IGNORE_INDEX, VECTOR_SUFFIXES, load_labels, read_label_ids
from semiseg.errors import UserError
from semiseg.io.rasters import open_raster, raster_info
from semiseg.metrics import confusion, scores
from semiseg.predict.class_areas import class_names_in


def evaluate(pred: Path, labels: Path, class_field: str = "class_id", num_classes: int | None = None) -> dict:
    info = raster_info(pred)
    with open_raster(pred) as pds:
        names = class_names_in(pds)
        n = num_classes or len(names) or None
        if n is None:
            raise UserError(f"{pred}: no class names in the file; pass --num-classes")
        names = names or [str(i) for i in range(n)]
        matrix = np.zeros((n, n), dtype=np.int64)
        if Path(labels).suffix.lower() in VECTOR_SUFFIXES:
            truth_full = load_labels(labels, info, n, class_field).ids
            truth_rows = lambda w: truth_full[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]  # noqa: E731
            lds = None
        else:
            lds = open_raster(labels)
            if (lds.width, lds.height) != (info.width, info.height):
                raise UserError(f"{labels}: {lds.width}x{lds.height} px but {pred.name} is {info.width}x{info.height} px")
            truth_rows = lambda w: read_label_ids(lds, labels, w)  # noqa: E731
        try:
            for _, window in pds.block_windows(1):
                p = pds.read(1, window=window)
                t = truth_rows(window)
                bad = (t != IGNORE_INDEX) & (t >= n)
                if bad.any():
                    raise UserError(f"{labels}: class id {int(t[bad][0])} is not among the {n} classes of {pred.name}")
                matrix += confusion(t, p, n)
        finally:
            if lds is not None:
                lds.close()
    result = scores(matrix, names)
    result["confusion"] = matrix.tolist()
    result["class_names"] = names
    return result

