"""events.jsonl and log.txt: what a client (the plugin, a script, a person) reads to follow a job."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from semiseg.io.atomic import write_failure
from semiseg.jobs.jobdir import JobDir


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class EventLog:
    """Appends one JSON object per line to events.jsonl, and a readable line to log.txt.

    Each event is flushed as it happens so a client tailing the file sees it at once.
    Only the process of rank 0 writes (`enabled=False` elsewhere).

    An event the disk has no room for (full, quota, read-only) ends the run: a UserError naming
    the folder, one line and exit 2 (pipeline/reporting.py), the partial line taken back so
    the file stays whole lines; `--resume` continues from the last checkpoint once there is room.
    """

    def __init__(self, job_dir: Path, enabled: bool = True):
        self.folder = Path(job_dir)
        self.events_path = JobDir(self.folder).events
        self.log_path = JobDir(self.folder).log
        self.enabled = enabled

    def emit(self, type: str, **fields: Any) -> None:
        if not self.enabled:
            return
        event = {"type": type, "time": _now(), **fields}
        self._append(self.events_path, json.dumps(event, default=str))
        self._append(self.log_path, f"{event['time']} {type}: {_readable(fields)}")

    def log(self, message: str) -> None:
        """A line for log.txt only (details that are not events)."""
        if self.enabled:
            self._append(self.log_path, f"{_now()} {message}")

    def _append(self, path: Path, line: str) -> None:
        try:
            _append_whole_line(path, line)
        except OSError as exc:
            raise (write_failure(self.folder, exc) or exc) from None


def _append_whole_line(path: Path, line: str) -> None:
    """Append the line and fsync it; a write that fails part-way leaves the file as it was."""
    data = memoryview((line + "\n").encode("utf-8"))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def _readable(fields: dict[str, Any]) -> str:
    if "message" in fields and len(fields) == 1:
        return str(fields["message"])
    return " ".join(f"{k}={_short(v)}" for k, v in fields.items())


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)


def read_events(job_dir: Path) -> list[dict]:
    """All events of a job so far (a half-written last line is skipped)."""
    path = JobDir(Path(job_dir)).events
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
