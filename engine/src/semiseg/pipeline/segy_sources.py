"""SEG-Y volumes listed as unlabelled data become the section rasters training reads.

A job's `unlabeled` may name a volume with how often to cut it (jobs/spec.py SegySections).
Before the inputs are checked, the sections are cut into JOB_DIR/segy/<volume stem>/ (a line
at a time, as `semiseg segy sections` does) and the job goes on with their paths, so the data
pipeline knows only rasters. The job's fingerprint is taken from the volume, not the sections.
"""
from __future__ import annotations

from pathlib import Path

from semiseg.jobs.spec import JobSpec, SegySections
from semiseg.segy.sections import every, write_sections
from semiseg.segy.survey import read_survey


def cut_segy_sections(spec: JobSpec, folder: Path) -> JobSpec:
    """`spec` with every SegySections entry replaced by the rasters cut from its volume into `folder`."""
    if not any(isinstance(p, SegySections) for d in spec.domains for p in d.unlabeled):
        return spec
    out = spec.model_copy(deep=True)
    for domain in out.domains:
        rasters = []
        for source in domain.unlabeled:
            rasters += section_rasters(source, Path(folder)) if isinstance(source, SegySections) else [source]
        domain.unlabeled = rasters
    return out


def section_rasters(source: SegySections, folder: Path) -> list[Path]:
    survey = read_survey(source.segy)
    inlines = every(survey.inlines, source.inline_every) if source.inline_every else []
    crosslines = every(survey.crosslines, source.crossline_every) if source.crossline_every and not survey.two_d else []
    times = every(survey.samples, source.slice_every) if source.slice_every and not survey.two_d else []
    return write_sections(survey, folder / survey.path.stem, inlines, crosslines, times)


def check_segy_source(source: SegySections) -> list[str]:
    """What keeps `source` from being cut (for `semiseg validate`, which writes nothing)."""
    from semiseg.errors import UserError

    try:
        read_survey(source.segy)
    except UserError as exc:
        return exc.problems
    return []
