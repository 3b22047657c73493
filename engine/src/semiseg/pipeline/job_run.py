"""One run of a job, as every stage after the inputs are read sees it."""

from __future__ import annotations

from dataclasses import dataclass

from semiseg.jobs.events import EventLog
from semiseg.jobs.jobdir import JobDir
from semiseg.jobs.spec import JobSpec
from semiseg.train.callbacks import CancelFlag


@dataclass(frozen=True)
class JobRun:
    """The job's folder and spec, how this run reports (events) and stops (cancel), and the
    fingerprint that ties its checkpoint and model to these inputs."""

    jd: JobDir
    spec: JobSpec
    events: EventLog
    cancel: CancelFlag
    fingerprint: str

    def phase(self, phase: str, message: str, **fields) -> None:
        self.events.emit("phase", phase=phase, message=message, **fields)
