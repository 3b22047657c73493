"""Segmentation metrics from a confusion matrix over labelled pixels only."""

from __future__ import annotations

import numpy as np

from semiseg.data.labels import IGNORE_INDEX


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = truth, columns = prediction; IGNORE_INDEX in either is skipped."""
    keep = (truth != IGNORE_INDEX) & (pred != IGNORE_INDEX) & (truth < num_classes) & (pred < num_classes)
    idx = truth[keep].astype(np.int64) * num_classes + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(matrix: np.ndarray, class_names: list[str]) -> dict:
    """OA, mIoU over classes present in truth or prediction, per-class IoU (None when absent)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    total = matrix.sum()
    return {
        "oa": float(tp.sum() / total) if total else None,
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else None,
        "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, iou)},
        "pixels": int(total),
    }
