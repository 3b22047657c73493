"""Sliding-window prediction of a raster (or of an area of it), window by window, into georeferenced outputs.

The output is predicted in blocks (predict/parts.py), each from every window that touches it,
so a rerun resumes at the first unfinished block and several processes share the blocks. Within
a block, memory is bounded by one strip of tiles (tile rows x block width): probabilities of a
strip are blended, then the rows no later window can touch are written out and dropped.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import rasterio
import rasterio.shutil
import torch
import torch.nn as nn
from rasterio.enums import Resampling
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from semiseg.devices import native_bf16, resolve_device, uses_bf16
from semiseg.errors import UserError
from semiseg.io.atomic import atomic_path, scratch_path, write_text_atomic
from semiseg.io.rasters import PROBABILITY_SCALE, RasterInfo, open_raster, output_profile, raster_info, refuse_if_too_large_to_hold
from semiseg.jobs.spec import InferenceSpec
from semiseg.models.forest import class_logits
from semiseg.models.package import ModelCard
from semiseg.models.second_opinion import disagreement, sharing_the_forest
from semiseg.predict.area import Bounds, PredictionArea
from semiseg.predict.cpu_runtime import chosen_runtime, exported
from semiseg.predict.styles import classes_qml, color_table, confidence_qml, polygons_qml, suggestions_qml
from semiseg.predict.suggestions import DoubtTally, write_suggestions
from semiseg.predict.pixelwise import PixelwiseRows, split_model
from semiseg.predict.parts import BLOCK_SIZE, Block, PredictionParts, files_digest, plan_blocks, predictor_identity
from semiseg.predict.ranks import Ranks
from semiseg.predict.tiling import SubGrid, TileGrid
from semiseg.predict.window_reader import read_batches

CLASS_NODATA = 255
CONFIDENCE_NODATA = -1.0


@dataclass(frozen=True)
class PredictionPaths:
    classes: Path
    classes_style: Path
    confidence: Path
    confidence_style: Path
    polygons: Path | None = None  # only when polygons were asked for
    polygons_style: Path | None = None
    probabilities: Path | None = None  # only when asked for: every class's probability
    areas: Path | None = None  # class areas (semiseg stats) of the map: CSV, and the same rows as JSON
    areas_json: Path | None = None
    suggestions: Path | None = None  # only when asked for: where to label next
    suggestions_style: Path | None = None

    @classmethod
    def for_raster(cls, raster: Path, out_dir: Path, polygons: bool = False, probabilities: bool = False, suggestions: bool = False) -> "PredictionPaths":
        stem = Path(raster).stem
        return cls(
            out_dir / f"{stem}_classes.tif",
            out_dir / f"{stem}_classes.qml",
            out_dir / f"{stem}_confidence.tif",
            out_dir / f"{stem}_confidence.qml",
            out_dir / f"{stem}_polygons.gpkg" if polygons else None,
            out_dir / f"{stem}_polygons.qml" if polygons else None,
            out_dir / f"{stem}_probabilities.tif" if probabilities else None,
            out_dir / f"{stem}_areas.csv",
            out_dir / f"{stem}_areas.json",
            out_dir / f"{stem}_suggestions.gpkg" if suggestions else None,
            out_dir / f"{stem}_suggestions.qml" if suggestions else None,
        )

    def outputs(self) -> list[tuple[str, Path]]:
        """(kind, path) of every file written, as `output` events name them."""
        kinds = [("classes", self.classes), ("style", self.classes_style), ("confidence", self.confidence), ("style", self.confidence_style)]
        if self.polygons is not None:
            kinds += [("polygons", self.polygons), ("style", self.polygons_style)]
        if self.probabilities is not None:
            kinds.append(("probabilities", self.probabilities))
        if self.areas is not None:
            kinds += [("areas", self.areas_json), ("areas_csv", self.areas)]
        if self.suggestions is not None:
            kinds += [("suggestions", self.suggestions), ("style", self.suggestions_style)]
        return kinds


@dataclass(frozen=True)
class PredictOptions:
    """How a raster is predicted: a job's `inference` block, or `semiseg predict`'s flags."""

    overlap: float = 0.5  # fraction of a window shared with its neighbour
    polygons: int | None = None  # also <stem>_polygons.gpkg, regions under this many pixels merged first
    bounds: Bounds | None = None  # only the raster's pixels covering (xmin, ymin, xmax, ymax)
    probabilities: bool = False  # also <stem>_probabilities.tif
    # Classes and confidence as Cloud-Optimized GeoTIFFs (tiled, internal overviews, deflate),
    # which GIS, web maps and cloud storage read in parts; off for a job's own working maps.
    cog: bool = True
    suggestions: int = 0  # also <stem>_suggestions.gpkg: up to this many regions where to label next
    block_size: int = BLOCK_SIZE  # output pixels a side of a unit of work (predict/parts.py)
    workers: int = 0  # DataLoader workers reading the windows (predict/window_reader.py); 0: read between forward passes

    @classmethod
    def of(cls, inference: InferenceSpec, bounds: Bounds | None = None) -> "PredictOptions":
        return cls(inference.overlap, inference.min_polygon_pixels if inference.polygons else None, bounds, suggestions=inference.suggestions)


class _Strip:
    """Blending accumulators for the rows [top, top + tile) of the raster."""

    def __init__(self, grid: TileGrid | SubGrid, channels: int):
        self.grid = grid
        width = grid.buffer_width
        self.top = 0
        self.probs = np.zeros((channels, grid.tile, width), dtype=np.float32)
        self.weights = np.zeros((grid.tile, width), dtype=np.float32)
        self.valid = np.zeros((grid.tile, width), dtype=bool)

    def add(self, col: int, probs: np.ndarray | None, valid: np.ndarray) -> None:
        """Blend one window's probabilities in at column `col`; None: a window with nothing
        computed per window (a forest alone), which still says where the valid pixels are."""
        w = self.grid.weight
        t = self.grid.tile
        if probs is not None:
            self.probs[:, :, col : col + t] += probs * w
        self.weights[:, col : col + t] += w
        self.valid[:, col : col + t] |= valid

    def advance(self, new_top: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Move the strip down to `new_top`; return the rows that left it (now final)."""
        n = new_top - self.top
        out = (self.top, self.probs[:, :n].copy(), self.weights[:n].copy(), self.valid[:n].copy())
        for buf in (self.probs, self.weights, self.valid):
            buf[..., : buf.shape[-2] - n, :] = buf[..., n:, :]
            buf[..., buf.shape[-2] - n :, :] = 0
        self.top = new_top
        return out


@dataclass(frozen=True)
class StripRows:
    """Consecutive final rows of a prediction, from row `top` of the predicted region."""

    top: int
    classes: np.ndarray  # (rows, width) uint8, CLASS_NODATA on nodata
    confidence: np.ndarray  # (rows, width) float32, CONFIDENCE_NODATA on nodata
    probabilities: np.ndarray  # (classes, rows, width) float32, 0 on nodata
    disagreement: np.ndarray | None = None  # (rows, width) float32 with a second opinion (WindowPredictor), 0 on nodata


def _finalize(top: int, blended: np.ndarray, weights: np.ndarray, valid: np.ndarray, num_classes: int,
              forest: np.ndarray | None = None, forest_weight: float = 0.0) -> StripRows:
    """The rows' decisions; channels past `num_classes` are the second opinion's disagreement.
    `forest`: the rows' forest probabilities, mixed into the windows' blend at `forest_weight`."""
    blended = blended / np.maximum(weights, 1e-12)
    if forest is not None:
        blended[:num_classes] = (1 - forest_weight) * blended[:num_classes] + forest_weight * forest
    blended[:, ~valid] = 0
    probs = blended[:num_classes]
    disagreement = blended[num_classes] if len(blended) > num_classes else None
    classes = probs.argmax(0).astype(np.uint8)
    confidence = probs.max(0).astype(np.float32)
    classes[~valid] = CLASS_NODATA
    confidence[~valid] = CONFIDENCE_NODATA
    return StripRows(top, classes, confidence, probs, disagreement)


# The eight symmetries of a square window (the dihedral group): k quarter turns after an
# optional left-right flip. A map has no preferred "up", so a prediction averaged over them is
# one the network cannot tie to the window's orientation (test-time augmentation, 8x the cost).
DIHEDRAL = tuple((turns, flip) for flip in (False, True) for turns in range(4))


def _turned(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    return torch.rot90(torch.flip(x, (-1,)) if flip else x, turns, (-2, -1))


def _unturned(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, -turns, (-2, -1))
    return torch.flip(x, (-1,)) if flip else x


class WindowPredictor:
    """Runs a model over normalized windows in batches; the one place inference happens.

    A model with a pixel forest (a forest alone, or blended with a network) is split: its network
    runs per window, its forest once per pixel (predict/pixelwise.py), and the two meet in
    iter_strips."""

    def __init__(self, model: nn.Module, device: torch.device, batch_size: int, bf16: bool | None = None, tta: bool = False,
                 second: nn.Module | None = None, runtime: str = "torch"):
        """`bf16`: compute in bfloat16 (InferenceSpec.precision, devices.uses_bf16); None: where a
        GPU computes it natively, float32 on a CPU. `tta`: average the probabilities over the
        DIHEDRAL symmetries of each window (InferenceSpec.tta). `second`: a second opinion
        (models/second_opinion.py), whose disagreement with `model` comes as one more channel.
        `runtime`: what computes the network (InferenceSpec.runtime, predict/cpu_runtime.py);
        "torch" here, so a model built in code runs as it is unless asked."""
        if second is not None:
            model, second = sharing_the_forest(model, second)
        self.model = model.to(device).eval()
        self.second = second.to(device).eval() if second is not None else None
        self.network, self.pixelwise = split_model(self.model)
        self.second_network = None
        if self.second is not None:
            self.second_network, second_part = split_model(self.second)
            if self.network is None or second_part != self.pixelwise:
                raise ValueError("a second opinion must be the same kind of model, its forest shared (models/second_opinion.py)")
        self.device = device
        self.batch_size = batch_size
        self.autocast = (device.type == "cuda" and native_bf16(device)) if bf16 is None else bf16
        self.runtime, (self.network, self.second_network) = exported(
            runtime, chosen_runtime(runtime, device, self.autocast, self.network), [self.network, self.second_network])
        # oneDNN's convolutions run U-Net/ResNet-18 1.4x faster on channels-last tensors than on
        # NCHW ones on the CPU (8 windows of 512 px; the classes the same on 99.9999 % of the
        # pixels, docs/benchmarks.md); on a GPU it is not measured, so it is left as it was.
        self.channels_last = (self.runtime == "torch" and device.type == "cpu"
                              and any(p.dim() == 4 for p in (self.network or nn.Identity()).parameters()))
        if self.channels_last:
            for network in (self.network, self.second_network):
                if network is not None:
                    network.to(memory_format=torch.channels_last)
        self.symmetries = DIHEDRAL if tta else DIHEDRAL[:1]
        self.identity: str | None = None  # the digest of the model files, when loaded from them (predict/parts.py)

    @property
    def extra_channels(self) -> int:
        """Channels after the class probabilities: the disagreement with a second opinion."""
        return int(self.second is not None)

    @torch.no_grad()
    def probabilities(self, images: np.ndarray | torch.Tensor, valid: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, C, H, W) normalized images and (N, H, W) validity -> (N, classes, H, W) softmax
        probabilities of the windowed part (`network`), followed by the disagreement channel with
        a second opinion: that of the whole models, since a forest they share cancels out of it
        but for its weight (the blends differ by (1 - w) times their networks' difference)."""
        out = []
        keep = 1.0 - (self.pixelwise.weight if self.pixelwise is not None else 0.0)
        for i in range(0, len(images), self.batch_size):
            batch = torch.as_tensor(images[i : i + self.batch_size]).to(self.device, non_blocking=True)
            mask = torch.as_tensor(valid[i : i + self.batch_size]).to(self.device, non_blocking=True)
            probs = self._mean_probabilities(batch, mask)
            joined = probs[0] if self.second is None else torch.cat([probs[0], keep * disagreement(*probs)], 1)
            out.append(joined.cpu().numpy())
        return np.concatenate(out)

    def _mean_probabilities(self, batch: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The network's (and the second opinion's) probabilities averaged over the symmetries."""
        models = [self.network] + ([self.second_network] if self.second is not None else [])
        totals = [0] * len(models)
        for turns, flip in self.symmetries:
            window, valid = _turned(batch, turns, flip), _turned(mask, turns, flip)
            if self.channels_last:
                window = window.contiguous(memory_format=torch.channels_last)
            for k, model in enumerate(models):
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                    logits = class_logits(model, window, valid)
                totals[k] = totals[k] + _unturned(torch.softmax(logits.float(), dim=1), turns, flip)
        return [total / len(self.symmetries) for total in totals]


def iter_strips(
    ds,
    info: RasterInfo,
    card: ModelCard,
    predictor: WindowPredictor,
    grid: TileGrid | SubGrid,
    on_tile: Callable[[int], None] | None = None,
    origin: tuple[int, int] = (0, 0),
    workers: int = 0,
    keep: Window | None = None,
) -> Iterator[StripRows]:
    """Yield the final rows of consecutive row ranges covering a region of `ds`.

    The region has `info`'s width and height; its pixel (0, 0) is pixel `origin` (row, col) of `ds`.
    `keep`: the part of the region wanted (rows and columns of it), when the windows are read
    beyond it for its sake (a block's, predict/parts.py); the rows come cropped to it, `top`
    counted from its first row. `workers`: DataLoader workers reading the windows
    (predict/window_reader.py), 0 to read here.
    """
    keep = keep or Window(0, 0, info.width, info.height)
    rows_kept = (int(keep.row_off), int(keep.row_off + keep.height))
    cols_kept = slice(int(keep.col_off), int(keep.col_off + keep.width))
    strip = _Strip(grid, card.num_classes + predictor.extra_channels)
    pixelwise = PixelwiseRows(ds, card, predictor.pixelwise, origin, predictor.device, rows_kept[1]) if predictor.pixelwise else None
    done = 0
    pin = workers > 0 and predictor.device.type == "cuda"

    def kept(top: int, probs: np.ndarray, weights: np.ndarray, valid: np.ndarray) -> StripRows | None:
        r0, r1 = max(top, rows_kept[0]), min(top + len(weights), rows_kept[1])
        if r1 <= r0:
            return None
        rows = slice(r0 - top, r1 - top)
        forest = None
        if pixelwise is not None and valid[rows, cols_kept].any():
            forest = pixelwise.probabilities(r0, r1 - r0, cols_kept.start, cols_kept.stop - cols_kept.start)
        return _finalize(r0 - rows_kept[0], probs[:, rows, cols_kept], weights[rows, cols_kept], valid[rows, cols_kept], card.num_classes,
                         forest, predictor.pixelwise.weight if forest is not None else 0.0)

    # A batch of windows at a time, not the whole row: memory stays flat however wide the raster.
    for batch in read_batches(ds, card, grid, origin, predictor.batch_size, workers, pin):
        if batch.row > strip.top:
            rows_out = kept(*strip.advance(batch.row))
            if rows_out is not None:
                yield rows_out
        if batch.live:
            valids = np.asarray(batch.valid)
            if predictor.network is None:  # a forest alone: the windows only say which pixels are valid
                for k, valid in zip(batch.live, valids):
                    strip.add(batch.cols[k], None, valid)
            else:
                for k, valid, p in zip(batch.live, valids, predictor.probabilities(batch.images, batch.valid)):
                    strip.add(batch.cols[k], p, valid)
        done += len(batch.cols)
        if on_tile:
            on_tile(done)
    rows_left = min(info.height - strip.top, grid.tile)
    top, probs, weights, valid = strip.advance(strip.top + grid.tile)
    rows_out = kept(top, probs[:, :rows_left], weights[:rows_left], valid[:rows_left])
    if rows_out is not None:
        yield rows_out


def predict_raster(
    card: ModelCard,
    predictor: WindowPredictor,
    raster: Path,
    out_dir: Path,
    options: PredictOptions = PredictOptions(),
    on_tile: Callable[[int, int], None] | None = None,
    on_phase: Callable[..., None] | None = None,
    ranks: Ranks = Ranks(),
) -> PredictionPaths | None:
    """Predict `raster` into out_dir/<stem>_classes.tif, _confidence.tif, their .qml styles and
    the class areas (<stem>_areas.csv and .json, as `semiseg stats` writes them).

    With `options.bounds` (xmin, ymin, xmax, ymax), only the raster's whole pixels covering them
    are predicted, on the raster's own grid. With `options.polygons` (the smallest region kept,
    in pixels), also <stem>_polygons.gpkg and its style; `on_phase(phase, message, **fields)` hears
    when that starts, and of a resumed prediction (`blocks_done` of `blocks`). With
    `options.probabilities`, also <stem>_probabilities.tif (band k: class k's probability, scaled
    by PROBABILITY_SCALE into bytes). With `options.suggestions`, also
    <stem>_suggestions.gpkg and its style: where a label would teach the model most.

    The map is predicted block by block (predict/parts.py): a rerun after a crash predicts only
    the blocks that were not finished. With several processes (`ranks`), each predicts its share
    of the blocks; the main one then writes the outputs and returns their paths, the others None.
    """
    info = _readable_info(card, raster)
    where = PredictionArea.of(info, options.bounds, margin=card.tile_size // 2)
    if options.polygons is not None:  # refused before predicting, not after hours of it
        from semiseg.predict.polygons import POLYGONIZE_BYTES_PER_PIXEL, POLYGONIZE_FIX

        refuse_if_too_large_to_hold(raster, where.out_info.width, where.out_info.height, "polygonizing its class map (--polygons)",
                                    POLYGONIZE_BYTES_PER_PIXEL, POLYGONIZE_FIX.replace("predict with --bounds", "predict without --polygons, or with --bounds"))
    grid = TileGrid(int(where.context.height), int(where.context.width), card.tile_size, options.overlap)
    blocks = plan_blocks(where.out_info.height, where.out_info.width, options.block_size)
    parts = PredictionParts(out_dir, Path(raster).stem, blocks, _parts_key(raster, predictor, options, card))
    if ranks.is_main:
        kept = parts.prepare()
        if kept and on_phase:
            on_phase("resume", f"resuming {Path(raster).name}: {kept} of {len(blocks)} blocks were predicted before", blocks_done=kept, blocks=len(blocks))
    ranks.barrier()  # the manifest is settled before anyone looks for finished blocks
    mine = [b for b in ranks.share(blocks) if not parts.is_done(b)]
    total, done = sum(len(_block_grid(grid, where, b)[0]) for b in mine), 0
    try:
        with open_raster(raster) as src:
            for block in mine:
                progress = (lambda n, before=done: on_tile(before + n, total)) if on_tile else None
                done += _predict_block(src, info, card, predictor, grid, where, block, parts, options, progress)
    except UserError:
        # A damaged input or a full disk: nothing of this prediction stays (a stop, a crash or a
        # kill keeps the finished blocks for the rerun; this rerun would fail the same way).
        parts.remove()
        raise
    ranks.barrier()  # every block is done: the one collective after the loop
    if not ranks.is_main:
        return None
    paths = _assemble(card, parts, where, PredictionPaths.for_raster(raster, Path(out_dir), options.polygons is not None, options.probabilities, options.suggestions > 0), options)
    parts.remove()
    if options.polygons is not None:
        from semiseg.predict.polygons import polygonize  # geopandas: only when asked for

        if on_phase:
            on_phase("polygons", f"polygonizing {paths.classes.name}")
        polygonize(paths.classes, paths.polygons, card.class_names, CLASS_NODATA, options.polygons)
        write_text_atomic(paths.polygons_style, polygons_qml(card.class_names, card.class_colors))
    return paths


def _parts_key(raster: Path, predictor: WindowPredictor, options: PredictOptions, card: ModelCard) -> dict:
    """What makes the blocks of one prediction those of another: the raster (path, size, time
    written), the model and how it runs, and the settings that change the blocks' files."""
    stat = Path(raster).stat()
    return {
        "raster": str(Path(raster).resolve()), "raster_bytes": stat.st_size, "raster_mtime_ns": stat.st_mtime_ns,
        "model": predictor_identity(predictor), "tile": card.tile_size, "overlap": options.overlap,
        "bounds": list(options.bounds) if options.bounds else None, "block_size": options.block_size,
        "probabilities": options.probabilities, "suggestions": options.suggestions > 0,
    }


def _block_grid(grid: TileGrid, where: PredictionArea, block: Block) -> tuple[SubGrid, int, int]:
    """The windows that touch `block` (output pixels), and the block's place in the context."""
    skip_rows, skip_cols = int(where.area.row_off - where.context.row_off), int(where.area.col_off - where.context.col_off)
    return grid.covering(skip_rows + block.row, skip_cols + block.col, block.height, block.width), skip_rows, skip_cols


def _predict_block(src, info: RasterInfo, card: ModelCard, predictor: WindowPredictor, grid: TileGrid, where: PredictionArea,
                   block: Block, parts: PredictionParts, options: PredictOptions, on_tile: Callable[[int], None] | None) -> int:
    """Predict one block into its folder of parts; the number of windows it took."""
    sub, skip_rows, skip_cols = _block_grid(grid, where, block)
    block_info = dataclasses.replace(where.out_info, width=block.width, height=block.height,
                                     transform=window_transform(block.window, where.out_info.transform))
    span = dataclasses.replace(info, width=sub.width, height=sub.height)
    origin = (int(where.context.row_off) + sub.origin[0], int(where.context.col_off) + sub.origin[1])
    first_row, first_col = sub.origin[0] - skip_rows - block.row, sub.origin[1] - skip_cols - block.col  # the span's (0, 0) in the block
    doubt = DoubtTally(block.height, block.width, card.num_classes) if options.suggestions else None
    with parts.writing(block) as folder, contextlib.ExitStack() as files:
        cls_ds = files.enter_context(rasterio.open(parts.path(block, "classes", folder=folder), "w", **output_profile(block_info, "uint8", CLASS_NODATA)))
        conf_ds = files.enter_context(rasterio.open(parts.path(block, "confidence", folder=folder), "w", **output_profile(block_info, "float32", CONFIDENCE_NODATA)))
        prob_ds = None
        if options.probabilities:
            prob_ds = files.enter_context(rasterio.open(parts.path(block, "probabilities", folder=folder), "w",
                                                        **{**output_profile(block_info, "uint8", CLASS_NODATA), "count": card.num_classes, "nodata": None}))
        keep = Window(-first_col, -first_row, block.width, block.height)
        for rows_out in iter_strips(src, span, card, predictor, sub, on_tile, origin, options.workers, keep):
            window = Window(0, rows_out.top, block.width, len(rows_out.classes))
            cls_ds.write(rows_out.classes, 1, window=window)
            conf_ds.write(rows_out.confidence, 1, window=window)
            if prob_ds is not None:
                prob_ds.write(np.rint(rows_out.probabilities * PROBABILITY_SCALE).astype(np.uint8), window=window)
            if doubt is not None:
                doubt.add(rows_out.top, rows_out.probabilities, rows_out.classes != CLASS_NODATA, rows_out.disagreement)
        files.close()  # the files written out before the folder is renamed
        if doubt is not None:
            parts.save_tally(folder, doubt.arrays())
    return len(sub)


def _assemble(card: ModelCard, parts: PredictionParts, where: PredictionArea, paths: PredictionPaths, options: PredictOptions) -> PredictionPaths:
    """The outputs of a one-pass prediction, written from the finished blocks' parts."""
    out_info = where.out_info
    classes_profile = output_profile(out_info, "uint8", CLASS_NODATA)
    doubt = DoubtTally(out_info.height, out_info.width, card.num_classes) if options.suggestions else None
    with contextlib.ExitStack() as files:
        classes_tmp, confidence_tmp = files.enter_context(atomic_path(paths.classes)), files.enter_context(atomic_path(paths.confidence))
        # COG is written in one copy of a finished raster: the blocks go to scratch files first.
        classes_blocks = files.enter_context(scratch_path(paths.classes)) if options.cog else classes_tmp
        confidence_blocks = files.enter_context(scratch_path(paths.confidence)) if options.cog else confidence_tmp
        cls_ds = files.enter_context(rasterio.open(classes_blocks, "w", **classes_profile))
        conf_ds = files.enter_context(rasterio.open(confidence_blocks, "w", **output_profile(out_info, "float32", CONFIDENCE_NODATA)))
        prob_ds = None
        if options.probabilities:
            prob_tmp = files.enter_context(atomic_path(paths.probabilities))
            prob_ds = files.enter_context(rasterio.open(prob_tmp, "w", **{**classes_profile, "count": card.num_classes, "nodata": None}))
            prob_ds.update_tags(scale=str(PROBABILITY_SCALE), **{f"class_{i}": name for i, name in enumerate(card.class_names)})
        cls_ds.write_colormap(1, color_table(card.class_colors))
        cls_ds.update_tags(1, **{f"class_{i}": name for i, name in enumerate(card.class_names)})
        for block in parts.blocks:
            for kind, ds in (("classes", cls_ds), ("confidence", conf_ds), ("probabilities", prob_ds)):
                if ds is not None:
                    with rasterio.open(parts.path(block, kind)) as part:
                        ds.write(part.read(), window=block.window)
            if doubt is not None:
                doubt.add_block(block.row, block.col, parts.load_tally(block))
        for ds in (cls_ds, conf_ds, prob_ds):
            if ds is not None:
                ds.close()  # written out before the overviews are added and the files renamed
        if options.cog:
            _copy_as_cog(classes_blocks, classes_tmp, "NEAREST")
            _copy_as_cog(confidence_blocks, confidence_tmp, "AVERAGE")
        else:
            _add_overviews(classes_tmp, Resampling.nearest)
            _add_overviews(confidence_tmp, Resampling.average)
    write_text_atomic(paths.classes_style, classes_qml(card.class_names, card.class_colors))
    write_text_atomic(paths.confidence_style, confidence_qml())
    paths = _write_areas(paths)
    if doubt is not None:
        write_suggestions(doubt.suggestions(options.suggestions), paths.suggestions, out_info.label_transform, out_info.crs, card.class_names)
        write_text_atomic(paths.suggestions_style, suggestions_qml())
    return paths


def _write_areas(paths: PredictionPaths) -> PredictionPaths:
    """Write the map's class areas beside it (what the dock's table and the map layout show);
    a map whose pixel areas cannot be measured (a rotated geographic grid) goes without them."""
    from semiseg.predict.class_areas import class_areas, write_class_areas

    try:
        rows = class_areas(paths.classes, paths.confidence)
    except UserError:
        return dataclasses.replace(paths, areas=None, areas_json=None)
    write_class_areas(rows, paths.areas)
    return paths


def predict_strips(card: ModelCard, predictor: WindowPredictor, raster: Path, overlap: float) -> Iterator[StripRows]:
    """The final rows of the whole of `raster`, strip by strip, for writers of other formats
    (SEG-Y traces): the same windows, blending and decisions as `predict_raster`'s GeoTIFFs."""
    info = _readable_info(card, raster)
    grid = TileGrid(info.height, info.width, card.tile_size, overlap)
    with open_raster(raster) as src:
        yield from iter_strips(src, dataclasses.replace(info, width=grid.width, height=grid.height), card, predictor, grid)


def _readable_info(card: ModelCard, raster: Path) -> RasterInfo:
    """`raster`'s grid, after checking that it holds the bands the model reads."""
    info = raster_info(raster)
    if max(card.bands) > info.count:
        raise UserError(f"{raster}: has {info.count} band(s) but the model reads band(s) {card.bands}")
    if len(card.bands) != card.in_channels:
        raise UserError(f"model.json: bands {card.bands} do not match in_channels {card.in_channels}")
    return info


def _copy_as_cog(source: Path, target: Path, resampling: str) -> None:
    """`source` as a Cloud-Optimized GeoTIFF (GDAL's COG driver: 256-px tiles, deflate, overviews
    down to one tile, colour table and tags kept)."""
    rasterio.shutil.copy(source, target, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256, OVERVIEW_RESAMPLING=resampling, BIGTIFF="IF_SAFER")


def _add_overviews(path: Path, resampling: Resampling) -> None:
    """Internal overviews so QGIS draws large outputs quickly when zoomed out."""
    with rasterio.open(path, "r+") as ds:
        factors = [f for f in (2, 4, 8, 16, 32) if min(ds.width, ds.height) // f >= 256]
        if factors:
            ds.build_overviews(factors, resampling)


def load_predictor(model: Path, device: str, batch_size: int, precision: str = "32", tta: bool = False,
                   second_opinion: bool = False, runtime: str = "auto") -> tuple[ModelCard, WindowPredictor]:
    """A model package (folder), or a model it exported to ONNX (.onnx file), loaded once,
    ready to predict any number of rasters on `device` (`precision`, `tta`, `runtime`:
    InferenceSpec's; an ONNX graph computes in float32 whatever it says, in onnxruntime).
    `second_opinion`: with the package's second opinion, if it keeps one (the suggestions'
    disagreement; one more network to run)."""
    from semiseg.models.package import load_package, load_second_opinion

    chosen = resolve_device(device)
    if Path(model).suffix.lower() == ".onnx" and Path(model).is_file():
        from semiseg.predict.onnx_model import load_onnx_model

        card, network = load_onnx_model(model, chosen)
        predictor = WindowPredictor(network, chosen, batch_size, bf16=False, tta=tta, runtime=runtime)
    else:
        card, network = load_package(model)
        second = load_second_opinion(model, card, network) if second_opinion else None
        predictor = WindowPredictor(network, chosen, batch_size, bf16=uses_bf16(precision, chosen), tta=tta, second=second,
                                    runtime=runtime)
    predictor.identity = files_digest(Path(model))  # what a resumed prediction must have been made with
    return card, predictor
