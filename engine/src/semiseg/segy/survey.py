"""The geometry of a SEG-Y file: which trace holds which inline/crossline, its CDP X/Y, the samples.

segyio infers a geometry only for complete, sorted, post-stack files and otherwise falls back
to "unstructured". SemiSeg builds the grid itself from the trace headers (opened with
`ignore_geometry`), so a volume with a missing trace still reads (the gap is nodata) and what
makes a file unusable (prestack gathers, a line off the grid) is named in one line.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from affine import Affine

from semiseg.errors import UserError, first_line

# Sample formats segyio reads (binary header bytes 3225-3226), by SEG-Y code.
SAMPLE_FORMATS = {1: "4-byte IBM float", 2: "4-byte two's complement integer", 3: "2-byte two's complement integer",
                  5: "4-byte IEEE float", 6: "8-byte IEEE float", 8: "1-byte two's complement integer",
                  10: "4-byte unsigned integer", 11: "2-byte unsigned integer", 16: "1-byte unsigned integer"}
# Trace header bytes (SEG-Y rev 1): inline, crossline, CDP number, CDP X/Y and their scalar.
INLINE_BYTE, CROSSLINE_BYTE = 189, 193
CDP_BYTE, CDP_X_BYTE, CDP_Y_BYTE, SCALAR_BYTE = 21, 181, 185, 71
MAX_GRID_RESIDUAL = 0.25  # of a trace spacing: CDP X/Y further from the fitted grid is irregular


@dataclass(frozen=True)
class Survey:
    """The geometry of one SEG-Y file.

    `traces[i, j]` is the index of the trace of inline `inlines[i]` and crossline `crosslines[j]`
    (-1: no trace there); `xy[i, j]` its CDP X/Y after the coordinate scalar (NaN if none).
    A 2D line is a survey with one inline whose crosslines are its CDP numbers.
    """

    path: Path
    inlines: np.ndarray
    crosslines: np.ndarray
    traces: np.ndarray
    xy: np.ndarray
    samples: np.ndarray  # sample times (ms) or depths, from the binary/trace headers
    format_code: int
    endian: str
    two_d: bool
    scalars: tuple  # distinct coordinate scalars found (bytes 71-72)

    @property
    def sample_interval(self) -> float:
        return float(self.samples[1] - self.samples[0]) if len(self.samples) > 1 else 1.0

    @property
    def missing(self) -> int:
        return int((self.traces < 0).sum())

    def line_traces(self, axis: str, number: int) -> np.ndarray:
        """Trace indexes (-1: missing) along the inline or crossline `number`, in grid order."""
        numbers = self.inlines if axis == "inline" else self.crosslines
        where = np.flatnonzero(numbers == number)
        if not len(where):
            raise UserError(f"{self.path}: {axis} {number} is not in the volume "
                            f"({_range_text(numbers)})")
        return self.traces[where[0], :] if axis == "inline" else self.traces[:, where[0]]

    def sample_index(self, time: float) -> int:
        """The sample nearest `time` (ms or m, as in the headers); UserError outside the trace."""
        k = int(round((time - self.samples[0]) / self.sample_interval))
        if not 0 <= k < len(self.samples) or abs(self.samples[k] - time) > self.sample_interval / 2:
            raise UserError(f"{self.path}: time/depth {time:g} is not in the traces "
                            f"({self.samples[0]:g} to {self.samples[-1]:g} every {self.sample_interval:g})")
        return k

    @cached_property
    def grid(self) -> tuple[Affine, float]:
        """The affine map from grid (column = crossline index, row = inline index) pixel CORNERS to
        CDP X/Y, fitted by least squares on every trace (rotated surveys included), and the largest
        distance of a trace from it in trace spacings. Pixel centres (j + .5, i + .5) are traces."""
        have = np.isfinite(self.xy[..., 0])
        rows, cols = np.nonzero(have)
        if len(rows) < 3 or len(np.unique(rows)) < 2 or len(np.unique(cols)) < 2:
            raise UserError(f"{self.path}: a map view needs at least two inlines and two crosslines with CDP X/Y")
        design = np.column_stack([cols + 0.5, rows + 0.5, np.ones(len(rows))])
        target = self.xy[rows, cols]
        coef, *_ = np.linalg.lstsq(design, target, rcond=None)
        (a, d), (b, e), (c, f) = coef
        transform = Affine(a, b, c, d, e, f)
        fitted = design @ coef
        spacing = min(np.hypot(a, d), np.hypot(b, e))
        residual = float(np.max(np.hypot(*(fitted - target).T)) / spacing) if spacing > 0 else np.inf
        return transform, residual

    def info(self) -> dict:
        """What `semiseg segy info` prints: geometry, coordinates and what is irregular."""
        out = {
            "file": str(self.path),
            "kind": "2D line" if self.two_d else "3D volume",
            "traces": int((self.traces >= 0).sum()),
            "samples": len(self.samples),
            "sample_interval": self.sample_interval,
            "first_sample": float(self.samples[0]),
            "last_sample": float(self.samples[-1]),
            "format": f"{self.format_code} ({SAMPLE_FORMATS[self.format_code]})",
            "endian": self.endian,
            "inlines": _axis_info(self.inlines),
            "crosslines": _axis_info(self.crosslines),
            "coordinate_scalars": list(self.scalars),
            "missing_traces": self.missing,
        }
        have = np.isfinite(self.xy[..., 0])
        if have.any():
            xs, ys = self.xy[have].T
            out["cdp_x"] = [float(xs.min()), float(xs.max())]
            out["cdp_y"] = [float(ys.min()), float(ys.max())]
        irregular = []
        if self.missing:
            irregular.append(f"{self.missing} grid position(s) without a trace (nodata in sections and slices)")
        if len(self.scalars) > 1:
            irregular.append(f"coordinate scalars differ between traces: {list(self.scalars)}")
        if not self.two_d and have.sum() >= 3:
            try:
                transform, residual = self.grid
                out["grid"] = {"inline_spacing": float(np.hypot(transform.b, transform.e)),
                               "crossline_spacing": float(np.hypot(transform.a, transform.d)),
                               "crossline_azimuth_deg": float(np.degrees(np.arctan2(transform.a, transform.d)) % 360),
                               "max_residual_traces": residual}
                if residual > MAX_GRID_RESIDUAL:
                    irregular.append(f"CDP X/Y lie up to {residual:.2f} trace spacings off a regular grid")
            except UserError:
                pass
        out["irregular"] = irregular
        return out


def open_segy(path: Path, endian: str | None = None):
    """segyio's handle on `path` without its geometry inference; UserError when unreadable.

    SEG-Y does not record its byte order: without `endian`, big-endian (the standard) is tried
    first, then little-endian (written by some PC software), and the first under which the file
    reads with a known sample format wins.
    """
    import segyio

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file" if not path.exists() else f"{path}: is a folder, not a SEG-Y file")
    failure = None
    for order in (endian,) if endian else ("big", "little"):
        try:
            with warnings.catch_warnings():  # an unknown sample format is said below, in one line
                warnings.simplefilter("ignore", UserWarning)
                handle = segyio.open(str(path), "r", ignore_geometry=True, endian=order)
        except (RuntimeError, OSError, ValueError) as exc:
            failure = failure or exc
            continue
        if endian or int(handle.bin[3225]) in SAMPLE_FORMATS:
            return handle
        failure = failure or ValueError(f"sample format code {int(handle.bin[3225])}")
        handle.close()
    if isinstance(failure, ValueError) and str(failure).startswith("sample format code"):
        raise UserError(f"{path}: {failure} (binary header bytes 3225-3226) is not one segyio reads "
                        f"({', '.join(map(str, SAMPLE_FORMATS))})")
    raise UserError(f"{path}: not a readable SEG-Y file ({first_line(failure)})")


def read_survey(path: Path, inline_byte: int = INLINE_BYTE, crossline_byte: int = CROSSLINE_BYTE) -> Survey:
    """The geometry of the SEG-Y file `path` from its headers (read once; traces are not read)."""
    path = Path(path)
    with open_segy(path) as f:
        code = int(f.bin[3225])
        if f.tracecount == 0 or len(f.samples) == 0:
            raise UserError(f"{path}: holds no traces")
        try:
            inl = np.asarray(f.attributes(inline_byte)[:], dtype=np.int64)
            xl = np.asarray(f.attributes(crossline_byte)[:], dtype=np.int64)
            cdp = np.asarray(f.attributes(CDP_BYTE)[:], dtype=np.int64)
            raw_x = np.asarray(f.attributes(CDP_X_BYTE)[:], dtype=np.float64)
            raw_y = np.asarray(f.attributes(CDP_Y_BYTE)[:], dtype=np.float64)
            scalar = np.asarray(f.attributes(SCALAR_BYTE)[:], dtype=np.float64)
        except (RuntimeError, OSError, KeyError, IndexError) as exc:
            raise UserError(f"{path}: cannot read the trace headers ({first_line(exc)})") from None
        samples = np.asarray(f.samples, dtype=np.float64)
        endian = f.endian
    two_d = len(np.unique(inl)) == 1 and (not xl.any() or len(np.unique(xl)) == 1)
    if two_d:  # a 2D line: its traces are placed by their CDP numbers
        xl = cdp if len(np.unique(cdp)) == len(cdp) else np.arange(1, len(cdp) + 1)
    inlines, crosslines = _axis(path, "inline", inl), _axis(path, "crossline", xl)
    traces = np.full((len(inlines), len(crosslines)), -1, dtype=np.int64)
    rows, cols = np.searchsorted(inlines, inl), np.searchsorted(crosslines, xl)
    flat = rows * len(crosslines) + cols
    seen, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        k = int(np.flatnonzero(flat == seen[np.argmax(counts)])[1])
        raise UserError(f"{path}: inline {inl[k]} crossline {xl[k]} holds {counts.max()} traces (a prestack gather or "
                        "duplicate traces): SemiSeg reads post-stack volumes, one trace per inline/crossline")
    traces[rows, cols] = np.arange(len(inl))
    factor = np.where(scalar < 0, -1.0 / np.where(scalar == 0, 1, scalar), np.where(scalar == 0, 1.0, scalar))
    xy = np.full(traces.shape + (2,), np.nan)
    if raw_x.any() or raw_y.any():
        xy[rows, cols, 0], xy[rows, cols, 1] = raw_x * factor, raw_y * factor
    return Survey(path, inlines, crosslines, traces, xy, samples, code, endian, two_d,
                  tuple(int(s) for s in np.unique(scalar)))


def _axis(path: Path, name: str, numbers: np.ndarray) -> np.ndarray:
    """Every line number of the regular axis the traces' `numbers` lie on (gaps are missing traces)."""
    unique = np.unique(numbers)
    if len(unique) == 1:
        return unique
    step = int(np.gcd.reduce(np.diff(unique)))
    full = np.arange(unique[0], unique[-1] + step, step)
    if len(full) > 4 * len(unique) + 16:  # not a grid with gaps: numbers scattered far apart
        raise UserError(f"{path}: {name} numbers {_range_text(unique)} are not on a regular grid "
                        f"(is byte {INLINE_BYTE if name == 'inline' else CROSSLINE_BYTE} the {name}? see --{name}-byte)")
    return full


def _axis_info(numbers: np.ndarray) -> dict:
    step = int(numbers[1] - numbers[0]) if len(numbers) > 1 else 1
    return {"first": int(numbers[0]), "last": int(numbers[-1]), "step": step, "count": len(numbers)}


def _range_text(numbers: np.ndarray) -> str:
    return f"{numbers[0]} to {numbers[-1]}" if len(numbers) > 1 else f"only {numbers[0]}"
