"""Reading JOB_DIR/events.jsonl: an incremental tail and the job state it describes.

The engine appends one JSON object per line and flushes; a line without its newline is still
being written and is read on the next poll. Unknown event types are ignored (docs/job-spec.md).
"""
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .jobdir import JobDir

FINISHED = ("completed", "cancelled", "failed")


class EventTail:
    """Returns the events appended since the last call."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0

    def read_new(self) -> list:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # not an event; the engine's log.txt has the details
        return events


@dataclass
class JobState:
    """What a user wants to see about a job; built by applying events in order."""
    status: str = "pending"  # pending, running, completed, cancelled, failed, interrupted
    phase: str = ""
    pid: int = 0
    step: int = 0
    total: int = 0
    loss: float = None
    eta_s: float = None
    miou: float = None
    exit_code: int = None
    message: str = ""
    errors: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    unit: str = "step"  # what `step`/`total` count: training steps, or prediction windows
    counted: bool = False  # a progress event came in the current phase (apply: each phase its own count)
    resumed: str = ""  # a prediction that kept the blocks an earlier run of it finished: how many

    def apply(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "start":
            self.status, self.pid = "running", int(event.get("pid") or 0)
            self.total = int(event.get("total_steps") or self.total)
            self.unit = event.get("unit") or self.unit  # a pixel forest counts trees
            self.exit_code, self.message, self.errors = None, "", []
        elif kind == "phase" and event.get("phase") == "resume":  # not a phase of its own: the prediction goes on
            self.resumed = f"resumed, {event.get('blocks_done', '?')} of {event.get('blocks', '?')} blocks kept"
        elif kind == "phase":
            self.phase, self.message = event.get("phase", ""), event.get("message", "")
            if self.counted:  # the last phase's count is done: this one has its own (a Quick map's
                # ~70 s of prediction after its trees showed 100 % and "ETA 0:00" throughout)
                self.step, self.total, self.eta_s, self.counted = 0, 0, None, False
        elif kind == "progress":
            self.counted = True
            self.step, self.total = int(event.get("step", 0)), int(event.get("total", self.total))
            self.unit = event.get("unit") or self.unit  # a training job's maps count windows
            self.loss, self.eta_s = event.get("loss"), event.get("eta_s")
        elif kind == "metrics" and event.get("split", "val") == "val":
            self.miou = event.get("miou")
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))
        elif kind == "output":
            self.outputs.append(event)
        elif kind == "done":
            self.status = event.get("status", "failed")
            self.exit_code = event.get("exit_code")
            self.message = event.get("message") or self.message

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def summary(self) -> str:
        """One line for the dock: step, ETA, loss, validation mIoU."""
        parts = [self.status]
        if self.phase and not self.finished:
            parts.append(self.phase)
        if self.resumed:
            parts.append(self.resumed)
        if self.total:
            parts.append(f"{self.unit} {self.step}/{self.total}")
        if self.eta_s is not None and not self.finished:
            parts.append(f"ETA {format_seconds(self.eta_s)}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.miou is not None:
            parts.append(f"val mIoU {self.miou:.3f}")
        return " · ".join(parts)

    def error_text(self) -> str:
        return "\n".join(self.errors) or self.message


def format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def read_state(job_dir: Path) -> JobState:
    """The state of a job from its whole event file; a run whose process is gone is 'interrupted'."""
    state = JobState()
    for event in EventTail(JobDir(Path(job_dir)).events).read_new():
        state.apply(event)
    if state.status == "running" and not engine_alive(state.pid):
        state.status = "interrupted"
    return state


def engine_alive(pid: int) -> bool:
    """Whether the engine process of a `start` event still runs (a job started by an earlier QGIS
    session may). After a reboot the pid can belong to another program: on Linux its command line
    must name the engine, so that program is neither followed nor sent a SIGTERM on cancel."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill would terminate the process on Windows
        import ctypes
        return alive_windows(pid, ctypes.windll.kernel32)
    return alive_posix(pid)


def alive_windows(pid: int, kernel32) -> bool:
    """Windows: the process opens and its exit code is still STILL_ACTIVE (`kernel32` is
    ctypes.windll.kernel32, an argument so that this runs in tests everywhere)."""
    import ctypes
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def alive_posix(pid: int, proc: Path = Path("/proc")) -> bool:
    """Linux and macOS: the pid exists and, where there is a /proc, its command line names the engine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        return b"semiseg" in (proc / str(pid) / "cmdline").read_bytes()
    except OSError:  # no /proc (macOS) or gone meanwhile: the pid is all there is to go by
        return not proc.is_dir()
