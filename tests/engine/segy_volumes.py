"""SEG-Y files written with segyio for the tests, from real seismic amplitudes, with real headers.

The amplitudes are TGS salt patches (../shared/data/seismic-tgs-salt): inline i of a volume is
patch i (samples down, crosslines across), so every inline has its own dense salt mask. The
headers follow ../shared/data/seismic-segy/f3_crop.sgy: inline/crossline at bytes 189/193, CDP
X/Y at 181/185 with a coordinate scalar at 71, an EBCDIC text header.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import segyio
from rasterio.windows import Window

PATCH = 101  # a TGS patch is 101 x 101 pixels


@dataclass
class Geometry:
    first_inline: int = 200
    first_crossline: int = 1000
    crossline_step: int = 2
    dt_ms: float = 4.0
    t0_ms: float = 0.0
    origin: tuple = (452_000.0, 6_780_000.0)  # CDP X/Y of the first trace
    spacing: tuple = (25.0, 12.5)  # metres between inlines, between crosslines
    azimuth_deg: float = 30.0  # of the crossline direction, clockwise from north
    scalar: int = -100  # coordinates stored in centimetres
    missing: tuple = ()  # (inline index, crossline index) of traces left out
    duplicate: tuple | None = None  # (inline index, crossline index) written twice (a gather)
    extra: dict = field(default_factory=dict)

    def xy(self, i: int, j: int) -> tuple[float, float]:
        """The exact CDP X/Y of inline index i, crossline index j (before rounding to the scalar)."""
        a = np.radians(self.azimuth_deg)
        along_xl = np.array([np.sin(a), np.cos(a)]) * self.spacing[1]
        along_il = np.array([np.cos(a), -np.sin(a)]) * self.spacing[0]
        x, y = np.array(self.origin) + j * along_xl + i * along_il
        return float(x), float(y)


def tgs_patches(count: int, min_salt: float = 0.0, max_salt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(amplitudes (count, 101, 101) float32, salt masks (count, 101, 101) uint8): the first
    patches of salt_mosaic_00 whose salt share lies in [min_salt, max_salt]."""
    data = Path(__file__).resolve().parents[3] / "shared" / "data" / "seismic-tgs-salt"
    images, masks = [], []
    with rasterio.open(data / "images" / "salt_mosaic_00.tif") as img, rasterio.open(data / "labels" / "salt_mosaic_00.tif") as lab:
        for k in range(400):
            window = Window((k % 20) * PATCH, (k // 20) * PATCH, PATCH, PATCH)
            mask = lab.read(1, window=window)
            image = img.read(1, window=window).astype(np.float32)
            if min_salt <= mask.mean() <= max_salt and image.std() > 5:
                images.append((image - image.mean()) * 40.0)  # signed amplitudes about zero, like a real stack
                masks.append(mask.astype(np.uint8))
            if len(images) == count:
                break
    return np.stack(images), np.stack(masks)


def write_volume(path: Path, sections: np.ndarray, geometry: Geometry = Geometry(), fmt: int = 1,
                 endian: str = "big") -> Path:
    """A post-stack volume with inline i = sections[i] (samples, crosslines), inline-sorted."""
    n_il, n_samples, n_xl = sections.shape
    positions = [(i, j) for i in range(n_il) for j in range(n_xl) if (i, j) not in geometry.missing]
    if geometry.duplicate is not None:
        positions.insert(positions.index(geometry.duplicate), geometry.duplicate)
    spec = segyio.spec()
    spec.format, spec.endian = fmt, endian
    spec.samples = geometry.t0_ms + geometry.dt_ms * np.arange(n_samples)
    spec.tracecount = len(positions)
    factor = -geometry.scalar if geometry.scalar < 0 else 1.0 / geometry.scalar
    with segyio.create(str(path), spec) as f:
        f.text[0] = segyio.tools.create_text_header({1: "SemiSeg test volume from TGS salt patches",
                                                     2: f"inlines {geometry.first_inline}+, crosslines {geometry.first_crossline}+",
                                                     3: "CDP X/Y bytes 181/185, scalar byte 71"})
        f.bin.update({segyio.BinField.Interval: int(geometry.dt_ms * 1000), segyio.BinField.Samples: n_samples,
                      segyio.BinField.Format: fmt, segyio.BinField.SortingCode: 4, segyio.BinField.MeasurementSystem: 1,
                      segyio.BinField.SEGYRevision: 1})
        for t, (i, j) in enumerate(positions):
            x, y = geometry.xy(i, j)
            f.header[t] = {segyio.TraceField.INLINE_3D: geometry.first_inline + i,
                           segyio.TraceField.CROSSLINE_3D: geometry.first_crossline + j * geometry.crossline_step,
                           segyio.TraceField.CDP: geometry.first_crossline + j * geometry.crossline_step,
                           segyio.TraceField.CDP_X: int(round(x * factor)), segyio.TraceField.CDP_Y: int(round(y * factor)),
                           segyio.TraceField.SourceGroupScalar: geometry.scalar,
                           segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples,
                           segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(geometry.dt_ms * 1000),
                           segyio.TraceField.TRACE_SEQUENCE_FILE: t + 1, **geometry.extra}
            f.trace[t] = sections[i, :, j].astype(np.float32)
    return path


def write_line(path: Path, section: np.ndarray, first_cdp: int = 5000, dt_ms: float = 4.0) -> Path:
    """A 2D line: one trace per CDP, inline and crossline bytes left 0, CDP X/Y along a straight line."""
    n_samples, n = section.shape
    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = 5, dt_ms * np.arange(n_samples), n
    with segyio.create(str(path), spec) as f:
        f.text[0] = segyio.tools.create_text_header({1: "SemiSeg test 2D line"})
        f.bin.update({segyio.BinField.Interval: int(dt_ms * 1000), segyio.BinField.Samples: n_samples,
                      segyio.BinField.Format: 5})
        for t in range(n):
            f.header[t] = {segyio.TraceField.CDP: first_cdp + t, segyio.TraceField.CDP_X: 300_000 + 1250 * t,
                           segyio.TraceField.CDP_Y: 5_000_000, segyio.TraceField.SourceGroupScalar: -100,
                           segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples}
            f.trace[t] = section[:, t].astype(np.float32)
    return path
