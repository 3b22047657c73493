"""Paths inside a job directory (docs/job-spec.md is the authority)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JobDir:
    root: Path

    @property
    def spec(self) -> Path:
        return self.root / "job.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def forest(self) -> Path:
        """The pixel forest's maps of every raster, when a method learns from them (pipeline/forest_maps.py)."""
        return self.root / "forest"

    @property
    def forest_out_of_fold_done(self) -> Path:
        """Written once the labelled rasters' context maps hold out-of-fold probabilities."""
        return self.forest / "out_of_fold.done"

    @property
    def segy_sections(self) -> Path:
        """Sections cut from the SEG-Y volumes the job lists as unlabelled (pipeline/segy_sources.py)."""
        return self.root / "segy"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def events(self) -> Path:
        """One JSON object per line: what clients (the plugin) read to follow the job."""
        return self.root / "events.jsonl"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def lock(self) -> Path:
        """Held (an OS file lock) by the engine that runs the job: jobs/lock.py."""
        return self.root / "engine.lock"

    @property
    def cancel_request(self) -> Path:
        return self.root / "cancel"
