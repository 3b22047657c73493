"""Predicting a whole SEG-Y volume, line by line, into class and confidence SEG-Y files.

Each line is cut from the volume as a section raster and predicted exactly as `semiseg predict`
predicts that raster (the same windows, blending and decisions), so a volume's classes equal
those of its sections predicted as GeoTIFFs. The outputs copy the source's text, binary and
trace headers byte for byte, in the source's trace order; only the sample format changes
(binary header bytes 3225-3226: 5, 4-byte IEEE float, which every interpretation package reads):
`<stem>_classes.sgy` holds class ids (255 where the source sample is nodata), and
`<stem>_confidence.sgy` the top class probability (-1 on nodata). With both axes, each trace's
class probabilities from its inline and its crossline are averaged; the inline pass keeps them
in a scratch file, read back a trace at a time, so memory holds one line, however big the volume.
Lines asked for with `sections` are also written for QGIS: the section raster (as `semiseg segy
sections` writes it) and its classes and confidence GeoTIFFs, styled, as for any raster.
"""
from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from semiseg.errors import UserError
from semiseg.io.atomic import atomic_path, scratch_path
from semiseg.models.package import ModelCard
from semiseg.predict.raster import (CLASS_NODATA, CONFIDENCE_NODATA, PredictOptions, WindowPredictor, predict_raster,
                                    predict_strips)
from semiseg.segy.sections import read_line, write_section, write_section_raster
from semiseg.segy.survey import Survey, open_segy, read_survey

IEEE_FLOAT = 5  # the output sample format code
VOLUME_SUFFIXES = (".sgy", ".segy")
AXIS_CHOICES = ("inline", "crossline", "both")


@dataclass(frozen=True)
class VolumePaths:
    classes: Path
    confidence: Path
    sections: tuple = ()  # (section raster, its PredictionPaths) of the lines asked for

    def outputs(self):
        yield "classes_segy", self.classes
        yield "confidence_segy", self.confidence


def is_volume(path: Path) -> bool:
    return Path(path).suffix.lower() in VOLUME_SUFFIXES


def predict_volume(card: ModelCard, predictor: WindowPredictor, volume: Path, out_dir: Path, axis: str = "inline",
                   overlap: float = 0.5, on_line: Callable[[int, int], None] | None = None,
                   sections: tuple = ()) -> VolumePaths:
    """Predict every line of `volume` along `axis` (inline, crossline or both) into out_dir;
    `sections`: (axis, line number) pairs also written as GeoTIFFs."""
    if axis not in AXIS_CHOICES:
        raise UserError(f"--axis {axis}: expected one of {', '.join(AXIS_CHOICES)}")
    survey = read_survey(volume)
    for line_axis, number in sections:
        survey.line_traces(line_axis, number)  # refused before anything is written
    if survey.two_d and axis != "inline":
        raise UserError(f"{volume}: a 2D line has one axis; predict it with --axis inline")
    if card.in_channels != 1:
        raise UserError(f"{volume}: a SEG-Y volume has 1 band but the model reads {card.in_channels}")
    out_dir = Path(out_dir)
    paths = VolumePaths(out_dir / f"{survey.path.stem}_classes.sgy", out_dir / f"{survey.path.stem}_confidence.sgy")
    axes = ("inline", "crossline") if axis == "both" else (axis,)
    lines = [(a, int(n)) for a in axes for n in (survey.inlines if a == "inline" else survey.crosslines)]
    with contextlib.ExitStack() as files:
        classes_tmp = files.enter_context(atomic_path(paths.classes))
        confidence_tmp = files.enter_context(atomic_path(paths.confidence))
        work = Path(files.enter_context(tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{survey.path.stem}.work-")))
        src = files.enter_context(open_segy(survey.path, survey.endian))
        classes_out = files.enter_context(_copy_of(src, classes_tmp))
        confidence_out = files.enter_context(_copy_of(src, confidence_tmp))
        first_pass = None
        if axis == "both":
            first_pass = files.enter_context(open(files.enter_context(scratch_path(paths.classes)), "w+b"))
        record = len(survey.samples) * card.num_classes * 4  # one trace's float32 probabilities
        for done, (line_axis, number) in enumerate(lines, 1):
            traces, probabilities, valid = _predict_line(card, predictor, survey, src, line_axis, number, overlap, work)
            for column, trace in enumerate(traces):
                if trace < 0:
                    continue
                p = probabilities[:, :, column]
                if first_pass is not None and line_axis == "inline":
                    first_pass.seek(int(trace) * record)
                    first_pass.write(np.ascontiguousarray(p, dtype=np.float32).tobytes())
                    continue
                if first_pass is not None:
                    first_pass.seek(int(trace) * record)
                    p = (p + np.frombuffer(first_pass.read(record), np.float32).reshape(p.shape)) / 2
                classes, confidence = p.argmax(0).astype(np.float32), p.max(0).astype(np.float32)
                classes[~valid[:, column]] = CLASS_NODATA
                confidence[~valid[:, column]] = CONFIDENCE_NODATA
                classes_out.trace[int(trace)] = classes
                confidence_out.trace[int(trace)] = confidence
            if on_line:
                on_line(done, len(lines))
        with open_segy(survey.path, survey.endian) as handle:  # a few lines: read again, predicted as rasters
            kept = tuple(_predict_section(card, predictor, survey, handle, a, n, out_dir, overlap) for a, n in sections)
    return dataclasses.replace(paths, sections=kept)


def _predict_section(card, predictor, survey: Survey, handle, axis: str, number: int, out_dir: Path, overlap: float):
    section = write_section(read_line(survey, handle, axis, number), survey, out_dir)
    return section, predict_raster(card, predictor, section, out_dir, PredictOptions(overlap=overlap, cog=False))


def _predict_line(card, predictor, survey: Survey, src, axis: str, number: int, overlap: float, work: Path):
    """(trace indexes, probabilities (classes, samples, traces), validity (samples, traces)) of one line."""
    section = read_line(survey, src, axis, number)
    raster = work / "section.tif"
    write_section_raster(section, survey, raster)
    strips = list(predict_strips(card, predictor, raster, overlap))
    probabilities = np.concatenate([s.probabilities for s in strips], axis=1)
    valid = np.concatenate([s.classes for s in strips], axis=0) != CLASS_NODATA
    return section.tie["traces"], probabilities, valid


@contextlib.contextmanager
def _copy_of(src, path: Path):
    """A new SEG-Y at `path` with `src`'s text, binary and trace headers, samples as IEEE floats."""
    import segyio

    spec = segyio.spec()
    spec.format, spec.samples, spec.tracecount = IEEE_FLOAT, src.samples, src.tracecount
    spec.endian, spec.ext_headers = src.endian, src.ext_headers
    with segyio.create(str(path), spec) as dst:
        for i in range(1 + src.ext_headers):
            dst.text[i] = src.text[i]
        dst.bin = src.bin
        dst.bin.update({segyio.BinField.Format: IEEE_FLOAT})
        dst.header = src.header
        yield dst
