"""The pixel classifier as a model: filter features (models/filter_bank.py) into a random forest.

A `PixelForest` is an nn.Module like the networks, so the model package, validation and the
windowed predictor treat it the same way: `forward(images, valid)` returns class log
probabilities per pixel. Its trees live in buffers (plain arrays: child indexes, split feature,
threshold, leaf class probabilities), which makes them safetensors like any weights; loading a
forest reads arrays and runs no code from the file. The arrays become scikit-learn trees, whose
compiled traversal predicts, once per process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from semiseg.models.filter_bank import DEFAULT_SCALES, filter_features

FOREST_ARCH = "pixel_forest"  # model.json `arch` of a forest package
FOREST_ENCODER = "filter_bank"
_LEAF = -1  # scikit-learn's child index of a leaf
_TREES_PER_ROUND = 10  # trees grown between two progress reports (and cancel checks)


class PixelForest(nn.Module):
    """Per-pixel filter features classified by a random forest; see the module docstring."""

    wants_valid_mask = True  # nodata is filled from its neighbours, not seen as zeros (filter_bank.py)

    def __init__(self, scales: torch.Tensor, tree_sizes: torch.Tensor, left: torch.Tensor, right: torch.Tensor, feature: torch.Tensor, threshold: torch.Tensor, leaf_probs: torch.Tensor):
        super().__init__()
        for name, value in dict(scales=scales, tree_sizes=tree_sizes, left=left, right=right, feature=feature, threshold=threshold, leaf_probs=leaf_probs).items():
            self.register_buffer(name, value)
        self._trees: list | None = None
        self.threads = max(1, torch.get_num_threads())

    def _apply(self, fn, recurse=True):
        """Moving a forest moves its arrays; casting it (`.float()`, `.half()`) leaves them as they
        are: the thresholds are float64 and the indexes integers, exact by design."""
        return super()._apply(lambda t: t.to(fn(t[:0]).device), recurse)

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor]) -> "PixelForest":
        """The forest whose arrays a model package holds (model.safetensors)."""
        names = ("scales", "tree_sizes", "left", "right", "feature", "threshold", "leaf_probs")
        missing = [n for n in names if n not in tensors]
        if missing:
            raise ValueError(f"not a pixel forest: tensors {missing} are missing")
        return cls(*(tensors[n] for n in names))

    @property
    def num_classes(self) -> int:
        return int(self.leaf_probs.shape[1])

    @property
    def scale_tuple(self) -> tuple[float, ...]:
        return tuple(float(s) for s in self.scales.cpu())

    def _sklearn_trees(self) -> list:
        if self._trees is None:
            self._trees = _to_sklearn(self)
        return self._trees

    def class_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(pixels, features) float32 -> (pixels, classes): the mean of the trees' leaf probabilities.

        Any memory layout: the traversal reads strided arrays, so a window's features go in as
        the transposed view of the bank's (features, pixels) output, not a copy of it (the copy
        cost more than the slightly less local reads it saves; the classes are the same)."""
        trees = self._sklearn_trees()
        x = np.asarray(features, dtype=np.float32)
        # The trees' traversal releases the GIL: threads share the pixels' work.
        with ThreadPoolExecutor(self.threads) as pool:
            total = sum(pool.map(lambda t: t.predict(x), trees))
        return (total / len(trees)).astype(np.float32)

    @torch.no_grad()
    def forward(self, images: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) normalized images -> (N, classes, H, W) log probabilities, one window at a time."""
        if valid is None:
            valid = torch.ones(images.shape[0], *images.shape[2:], dtype=torch.bool, device=images.device)
        out = [torch.from_numpy(self.row_probabilities(image, mask, slice(None))) for image, mask in zip(images, valid)]
        return torch.log(torch.stack(out).clamp_min(1e-12)).to(images.device)

    @torch.no_grad()
    def row_probabilities(self, image: torch.Tensor, valid: torch.Tensor, rows: slice) -> np.ndarray:
        """(C, H, W) normalized image -> (classes, rows, W) float32 class probabilities of its rows
        `rows`, their features computed from the whole image: a piece read with a halo
        (predict/pixelwise.py) walks the trees for the pixels it returns, not for its halo rows.
        Rows only: a range of rows of the (features, H, W) bank is a view the traversal reads as
        it is, where cutting columns too would copy every feature."""
        with torch.autocast(image.device.type, enabled=False):
            features = filter_features(image[None].float(), valid[None], self.scale_tuple)[0][:, rows]
        f, h, w = features.shape
        probs = self.class_probabilities(features.reshape(f, h * w).cpu().numpy().T)
        return probs.T.reshape(-1, h, w)


def fit_forest(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    trees: int,
    seed: int,
    scales: tuple[float, ...] = DEFAULT_SCALES,
    min_samples_leaf: int = 1,
    on_round: Callable[[int], None] | None = None,
) -> PixelForest:
    """Train a random forest on (pixels, features) and labels in 0..num_classes-1.

    Grown `_TREES_PER_ROUND` trees at a time, calling `on_round(trees_so_far)` in between (for
    progress and to let a cancel through). Classes without a labelled pixel get probability 0.
    """
    from sklearn.ensemble import RandomForestClassifier  # training only: packages load without it

    forest = RandomForestClassifier(
        n_estimators=0, max_features="sqrt", min_samples_leaf=min_samples_leaf, n_jobs=max(1, torch.get_num_threads()), random_state=seed, warm_start=True
    )
    while forest.n_estimators < trees:
        forest.n_estimators = min(trees, forest.n_estimators + _TREES_PER_ROUND)
        forest.fit(features, labels)
        if on_round:
            on_round(forest.n_estimators)
    return _from_sklearn(forest, num_classes, scales)


def _from_sklearn(forest, num_classes: int, scales: tuple[float, ...]) -> PixelForest:
    present = forest.classes_.astype(np.int64)
    sizes, left, right, feature, threshold, leaf_probs = [], [], [], [], [], []
    for est in forest.estimators_:
        t = est.tree_
        sizes.append(t.node_count)
        left.append(t.children_left.astype(np.int32))
        right.append(t.children_right.astype(np.int32))
        feature.append(t.feature.astype(np.int32))
        threshold.append(t.threshold.astype(np.float64))
        values = t.value[:, 0, :]
        values = values / np.maximum(values.sum(1, keepdims=True), 1e-12)
        probs = np.zeros((t.node_count, num_classes), np.float32)
        probs[:, present] = values
        leaf_probs.append(probs[t.children_left == _LEAF])
    cat = lambda parts: torch.from_numpy(np.concatenate(parts))  # noqa: E731
    return PixelForest(
        torch.tensor(scales, dtype=torch.float32), torch.tensor(sizes, dtype=torch.int64), cat(left), cat(right), cat(feature), cat(threshold), cat(leaf_probs)
    )


def _to_sklearn(model: PixelForest) -> list:
    """scikit-learn Tree objects built from the arrays (the state a tree pickles to, given as arrays)."""
    from sklearn.tree._tree import NODE_DTYPE, Tree

    num_classes = model.num_classes
    arrays = {k: getattr(model, k).cpu().numpy() for k in ("left", "right", "feature", "threshold", "leaf_probs")}
    n_features = int(arrays["feature"].max()) + 1  # the traversal only indexes features: the largest index bounds it
    trees, start, leaf_start = [], 0, 0
    for size in model.tree_sizes.cpu().tolist():
        end = start + size
        left = arrays["left"][start:end]
        leaves = left == _LEAF
        nodes = np.zeros(size, dtype=NODE_DTYPE)
        nodes["left_child"], nodes["right_child"] = left, arrays["right"][start:end]
        nodes["feature"], nodes["threshold"] = arrays["feature"][start:end], arrays["threshold"][start:end]
        nodes["n_node_samples"], nodes["weighted_n_node_samples"] = 1, 1.0
        values = np.zeros((size, 1, num_classes), np.float64)
        values[leaves, 0] = arrays["leaf_probs"][leaf_start : leaf_start + leaves.sum()]
        tree = Tree(n_features, np.array([num_classes], dtype=np.intp), 1)
        tree.__setstate__({"max_depth": _depth(left, nodes["right_child"]), "node_count": size, "nodes": nodes, "values": values})
        trees.append(tree)
        start, leaf_start = end, leaf_start + int(leaves.sum())
    return trees


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    """Levels below the root, walked a level at a time."""
    level, depth = np.array([0]), 0
    while True:
        inner = level[left[level] != _LEAF]
        if not len(inner):
            return depth
        level, depth = np.concatenate([left[inner], right[inner]]), depth + 1


def class_logits(model: nn.Module, images: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Any model's class logits for a batch: a forest reads the validity mask, a network sees nodata as zeros."""
    return model(images, valid) if getattr(model, "wants_valid_mask", False) else model(images)
