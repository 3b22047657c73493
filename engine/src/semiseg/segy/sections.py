"""Inline and crossline sections and time/depth slices of a SEG-Y file as GeoTIFFs for QGIS.

A section is a raster in section coordinates: column = trace along the line, row = sample, one
unit per trace across and one per sample down (x = trace position from 0, y = -time / sample
interval), so QGIS's scale and measure tool read in traces and samples and a scribble's width in
pixels is the same across and down. The sidecar `<raster>.segy.json` ties every column back to
its line number and trace and every row to its time or depth. A slice is a map view: pixel
centres are the CDP X/Y of their traces (the survey grid fitted to them, rotated or not), in the
CRS the user gives. Missing traces are NaN, the rasters' nodata. Each raster comes with
`<stem>.qml`, which QGIS loads as its default style: the seismic red-white-blue ramp stretched
symmetrically about zero.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from semiseg.errors import UserError
from semiseg.io.atomic import atomic_path, write_text_atomic
from semiseg.predict.styles import seismic_qml
from semiseg.segy.survey import Survey, open_segy

SIDECAR_SUFFIX = ".segy.json"
AXES = ("inline", "crossline")


@dataclass(frozen=True)
class Section:
    """One inline, crossline or slice: its samples as a 2D array and where they came from."""

    kind: str  # "inline", "crossline" or "slice"
    number: float  # line number, or time/depth of a slice
    values: np.ndarray  # float32, (samples, traces) for a line, (rows, crosslines) for a slice
    transform: Affine
    tie: dict  # what the sidecar records

    @property
    def name(self) -> str:
        return f"{self.kind}_{self.number:g}"


def read_line(survey: Survey, handle, axis: str, number: int) -> Section:
    """Inline or crossline `number`: samples down, traces across, NaN where a trace is missing."""
    traces = survey.line_traces(axis, number)
    values = np.full((len(survey.samples), len(traces)), np.nan, dtype=np.float32)
    for column, trace in enumerate(traces):
        if trace >= 0:
            values[:, column] = handle.trace[int(trace)]
    positions = survey.crosslines if axis == "inline" else survey.inlines
    first = survey.samples[0] / survey.sample_interval
    transform = Affine(1.0, 0.0, 0.0, 0.0, -1.0, -(first - 0.5))  # row r's centre: y = -time_r / interval
    tie = {"axis": axis, "line": int(number), "traces": [int(t) for t in traces],
           "positions": {"crossline" if axis == "inline" else "inline": [int(p) for p in positions]},
           "cdp_xy": [[None if np.isnan(v) else float(v) for v in xy]
                      for xy in (survey.xy[survey.inlines == number][0] if axis == "inline"
                                 else survey.xy[:, survey.crosslines == number][:, 0])]}
    return Section(axis, number, values, transform, tie)


def read_slice(survey: Survey, handle, time: float) -> Section:
    """The time or depth slice nearest `time`: a map view, pixel centres at the traces' CDP X/Y.

    Rows run along the inlines in whichever order keeps the map unmirrored (a negative
    determinant, like every north-up image); the sidecar lists the inline of each row.
    """
    if survey.two_d:
        raise UserError(f"{survey.path}: a 2D line has no time slices")
    k = survey.sample_index(time)
    grid, _ = survey.grid
    order = np.arange(len(survey.inlines))
    if grid.determinant > 0:  # inline numbers grow "up" the map: the first row is the last inline
        order = order[::-1]
        grid = grid @ Affine.translation(0, len(order)) @ Affine.scale(1, -1)
    values = np.full((len(order), len(survey.crosslines)), np.nan, dtype=np.float32)
    for row, i in enumerate(order):
        for column, trace in enumerate(survey.traces[i]):
            if trace >= 0:
                values[row, column] = handle.trace[int(trace)][k]
    tie = {"axis": "slice", "sample": k, "time": float(survey.samples[k]),
           "rows_inline": [int(survey.inlines[i]) for i in order], "columns_crossline": [int(x) for x in survey.crosslines]}
    return Section("slice", float(survey.samples[k]), values, grid, tie)


def write_section(section: Section, survey: Survey, out_dir: Path, crs: str | None = None) -> Path:
    """`<volume stem>_<inline|crossline|slice>_<number>.tif` (a 2D line: `<stem>_line.tif`, its
    only section, whose inline number the file does not have) and its sidecar in `out_dir`.

    Written under temporary names and renamed: an interrupted run leaves no half raster.
    """
    path = Path(out_dir) / f"{survey.path.stem}_{'line' if survey.two_d else section.name}.tif"
    sidecar = {"volume": str(survey.path.resolve()), "kind": section.kind,
               "sample_interval": survey.sample_interval, "first_sample": float(survey.samples[0]),
               "samples": len(survey.samples), **section.tie}

    write_text_atomic(path.with_name(path.name + SIDECAR_SUFFIX), json.dumps(sidecar) + "\n")
    with atomic_path(path) as tmp:
        write_section_raster(section, survey, tmp, crs)
    write_text_atomic(path.with_suffix(".qml"), seismic_qml(display_limit(section.values)))  # QGIS's default style
    return path


def display_limit(values: np.ndarray) -> float:
    """The amplitude at which the colour ramp saturates: the 99th percentile of |amplitude|."""
    finite = np.abs(values[np.isfinite(values)])
    limit = float(np.percentile(finite, 99)) if finite.size else 0.0
    return limit if limit > 0 else 1.0


def write_section_raster(section: Section, survey: Survey, path: Path, crs: str | None = None) -> None:
    """The GeoTIFF of `section` at `path` (no sidecar, not renamed: a caller's working file)."""
    import rasterio

    height, width = section.values.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "float32",
               "nodata": float("nan"), "transform": section.transform, "compress": "deflate",
               "crs": crs if section.kind == "slice" else None}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(section.values, 1)
        ds.update_tags(SEGY_VOLUME=survey.path.name, SEGY_KIND=section.kind, SEGY_NUMBER=f"{section.number:g}",
                       SEGY_X_UNIT="trace" if section.kind != "slice" else "CRS unit",
                       SEGY_Y_UNIT=f"sample ({survey.sample_interval:g} per sample)" if section.kind != "slice"
                       else "CRS unit")


def write_sections(survey: Survey, out_dir: Path, inlines=(), crosslines=(), times=(), crs: str | None = None) -> list:
    """Every requested section and slice of `survey` into `out_dir` (read a line at a time)."""
    crs = crs_of(crs) if isinstance(crs, str) else crs
    inlines, crosslines, times = (list(dict.fromkeys(v)) for v in (inlines, crosslines, times))
    for axis, numbers in (("inline", inlines), ("crossline", crosslines)):
        for number in numbers:
            survey.line_traces(axis, number)  # every bad request is refused before anything is written
    for time in times:
        survey.sample_index(time)
    if times and survey.two_d:
        raise UserError(f"{survey.path}: a 2D line has no time slices")
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out_dir}: cannot write the sections there ({exc.strerror or exc})") from None
    written = []
    with open_segy(survey.path, survey.endian) as handle:
        for axis, numbers in (("inline", inlines), ("crossline", crosslines)):
            written += [write_section(read_line(survey, handle, axis, n), survey, out_dir) for n in numbers]
        written += [write_section(read_slice(survey, handle, t), survey, out_dir, crs) for t in times]
    return written


def every(numbers: np.ndarray, step: int) -> list:
    """Every `step`-th line number (or sample time), from the first."""
    if step < 1:
        raise UserError(f"--every {step}: expected at least 1")
    return [n.item() for n in numbers[::step]]


def crs_of(text: str | None):
    """The CRS the user named for slices (None: unknown); UserError if PROJ does not know it."""
    if not text:
        return None
    import pyproj  # asked first: GDAL would also print PROJ's complaint on stderr
    from rasterio.crs import CRS

    try:
        return CRS.from_wkt(pyproj.CRS.from_user_input(text).to_wkt())
    except pyproj.exceptions.CRSError as exc:
        raise UserError(f"--crs {text}: not a CRS PROJ knows ({str(exc).splitlines()[0]})") from None
