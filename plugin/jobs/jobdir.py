"""Paths inside the folders the plugin shares with the engine (docs/job-spec.md is the authority).

The engine's `semiseg.jobs.jobdir.JobDir` names the same paths; tests/plugin/test_jobdir.py
asks the engine for its names and compares, so the two sides cannot drift apart. No other
plugin module spells a file name of a job directory.

Two kinds of folder: a training job (job.json, labels, checkpoints, model, outputs) and a
prediction run (`semiseg predict --out RUN --events`: its outputs lie in the folder itself).
"""
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
        """What `semiseg train --resume` continues from."""
        return self.checkpoints / "last.ckpt"

    @property
    def forest(self) -> Path:
        """The pixel forest a method fitted first (its package in forest/model): a resume before
        the first checkpoint starts from it instead of fitting it again."""
        return self.root / "forest"

    @property
    def forest_model(self) -> Path:
        """The package of that forest (the engine's `forest_of_this_job` reads it)."""
        return self.forest / "model"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def outputs(self) -> Path:
        """The predicted maps: outputs/ of a training job, the folder itself for a prediction run."""
        return self.root if self.is_prediction_run else self.root / "outputs"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def log(self) -> Path:
        """The engine's readable log (written once the engine runs)."""
        return self.root / "log.txt"

    @property
    def console(self) -> Path:
        """What the engine process printed: the plugin's own capture, for a run that failed early."""
        return self.root / "console.txt"

    @property
    def cancel_request(self) -> Path:
        """Its existence asks the running engine to write a checkpoint and stop."""
        return self.root / "cancel"

    @property
    def is_prediction_run(self) -> bool:
        return not self.spec.is_file()

    def best_log(self) -> Path:
        """The engine's log when it has one, else the console capture."""
        return self.log if self.log.is_file() else self.console


# A model folder holds this file (semiseg.models.package writes it).
MODEL_FILE = "model.json"


def labels_file_name(index: int) -> str:
    """labels.gpkg for the first labelled raster, labels_2.gpkg for the second, ... (job.json names them)."""
    return "labels.gpkg" if index == 0 else f"labels_{index + 1}.gpkg"
