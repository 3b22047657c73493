"""Train one job directory the way every caller does (the `train` command, the demo): hold its
lock, report its end as events, print where the model and the maps are."""

from __future__ import annotations

import contextlib
from pathlib import Path

from semiseg.errors import UserError
from semiseg.jobs.events import EventLog
from semiseg.jobs.jobdir import JobDir
from semiseg.jobs.lock import job_lock
from semiseg.pipeline.reporting import EXIT_OK, reported, sigterm_cancels
from semiseg.pipeline.runner import TrainOptions, is_rank_zero, run_training


def train_job(job_dir: Path, options: TrainOptions = TrainOptions(), announce: bool = True) -> int:
    """Train, export and predict the job; EXIT_OK, or raises as `reporting.exit_code` expects.

    `announce`: print the "done" line (`semiseg demo` prints its own, with the held-out scores)."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise UserError(f"{job_dir}: not a job directory")
    job = JobDir(job_dir)
    # Refused before any event: a second engine must not write into the running one's events.
    lock = job_lock(job.lock) if is_rank_zero() else contextlib.nullcontext()
    with lock:
        events = EventLog(job_dir, enabled=is_rank_zero())
        with sigterm_cancels(), reported(events, "cancelled; `semiseg train --resume` continues"):
            metrics = run_training(job_dir, events, options)
        summary = _summary(metrics)
        events.emit("done", status="completed", exit_code=EXIT_OK, message=f"completed ({summary})")
    if events.enabled and announce:
        print(f"semiseg: done ({summary}); model: {job.model}; outputs: {job.outputs}")
    return EXIT_OK


def _summary(metrics: dict) -> str:
    """Validation mIoU per domain, as the `done` event and the console say it: named as the
    validation blocks' score (scribbles held back), not the map's quality."""
    scored = {name: m["miou"] for name, m in metrics.items() if m.get("miou") is not None}
    if not scored:
        return "no validation labels"
    if len(scored) == 1 and len(metrics) <= 1:
        return f"validation mIoU {next(iter(scored.values())):.3f}"
    return ", ".join(f"{name} validation mIoU {v:.3f}" for name, v in scored.items())
