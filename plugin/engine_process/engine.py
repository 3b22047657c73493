"""Starting the engine (`<engine python> -m semiseg.cli ...`) and following one run to its end.

The engine runs in its own Python with its own GDAL; the QGIS process only starts it and reads
JOB_DIR/events.jsonl. `watch` is shared by the dock's QgsTask and the Processing algorithms,
and runs in whatever worker thread calls it: it never touches layers.
"""
import os
import signal
import subprocess  # nosec B404  # runs the engine's own Python with an argv list, never a shell
import time
from pathlib import Path

from ..jobs.events import EventTail, JobState, engine_alive
from ..jobs.jobdir import JobDir

EXIT_STATUS = {0: "completed", 130: "cancelled", 2: "failed", 1: "failed"}
# Variables QGIS sets for its own Python and GDAL; the engine must use its own.
_QGIS_ONLY_ENV = ("PYTHONPATH", "PYTHONHOME", "GDAL_DATA", "GDAL_DRIVER_PATH", "PROJ_LIB", "PROJ_DATA",
                  "QGIS_PREFIX_PATH")


class EngineError(Exception):
    """A problem a user can act on (no engine configured, engine not found, ...)."""


def command(python: str, *args: str) -> list:
    if not python:
        raise EngineError("No engine configured: press \"Set up engine\" in the dock's Engine section, "
                          "or pick the Python of an environment with the engine as \"Engine Python\".")
    if not Path(python).is_file():
        raise EngineError(f"Engine Python not found: {python}")
    return [python, "-m", "semiseg.cli", *args]


def train_command(python: str, job_dir: Path, device: str, resume: bool = False) -> list:
    """`semiseg train JOB_DIR` as the dock and Processing run it (`resume`: from its last checkpoint;
    the engine clears an old cancel request itself)."""
    return command(python, "train", str(job_dir), "--quiet", "--device", device, *(["--resume"] if resume else []))


def predict_command(python: str, model: str, raster: str, out: Path, device: str, area: list = (),
                    polygons: bool = False, devices: int = 1) -> list:
    """`semiseg predict` writing events into OUT, so it is followed as a training job is;
    `area`: map_area.bounds_args of the part to predict (for a SEG-Y volume: the lines to write
    as rasters too, e.g. ["--inline", "120"]); `devices`: processes (GPUs) sharing its blocks.
    The same command again resumes a stopped prediction into OUT (the engine keeps its blocks)."""
    return command(python, "predict", model, raster, "--out", str(out), "--device", device, "--quiet",
                   "--events", *area, *(["--polygons"] if polygons else []), *(["--devices", str(devices)] if devices > 1 else []))


# Win32 process creation flags (the subprocess module has them on Windows only).
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
# Windows: no console window pops up for each engine command (0 elsewhere, where Popen wants 0).
NO_WINDOW = CREATE_NO_WINDOW if os.name == "nt" else 0


def detach_options(windows: bool) -> dict:
    """Popen options that detach the engine from QGIS: on Windows a process group of its own (a
    Ctrl+C or Ctrl+Break in QGIS's console does not reach it) and no console window; elsewhere a
    session of its own (QGIS's terminal and process group do not reach it)."""
    if windows:
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}
    return {"start_new_session": True}


def environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _QGIS_ONLY_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(args: list, console: Path) -> subprocess.Popen:
    """Start the engine detached from QGIS, so a job survives a QGIS restart; output to `console`."""
    console.parent.mkdir(parents=True, exist_ok=True)
    with open(console, "ab") as out:
        return subprocess.Popen(  # nosec B603  # an argv list, no shell: the engine's own python
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=environment(),
            **detach_options(os.name == "nt"))


def run(args: list, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """A short engine command (doctor, validate): output captured, never a hang."""
    return subprocess.run(  # nosec B603  # an argv list, no shell: the engine's own python
        args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=environment(), timeout=timeout_s,
        creationflags=NO_WINDOW)


def watch(job_dir, process, on_events, is_canceled, console: Path, grace_s: float = 20,
          poll_s: float = 0.3, cancel_file: bool = True, unit: str = "step",
          is_detached=lambda: False) -> JobState:
    """Follow a run until it ends (or `is_detached()`: the run goes on unwatched) and return its state.

    `process` is the Popen we started, or None for a job started by an earlier QGIS session
    (followed through the pid of its `start` event). `job_dir` is the folder with events.jsonl
    (`semiseg predict --events` writes it into its --out folder), None for a run without events.
    Cancelling creates JOB_DIR/cancel (with `cancel_file`; training checkpoints and exits with
    130), again whenever it is gone (the engine clears a stale request as it starts, and a
    cancel can come before that), and terminates the process if it has not stopped after
    `grace_s` seconds, at once without a cancel file. `unit` names what progress counts.
    """
    state = JobState(status="running", unit=unit)
    if not cancel_file:
        grace_s = 0
    tail = EventTail(JobDir(Path(job_dir)).events) if job_dir else None
    cancel_at = None

    def poll_events():
        # Each progress event is reported as it is: several can arrive in one poll (a loaded
        # machine, the last step and the export together), and a step must not go unseen.
        events = tail.read_new() if tail else []
        for event in events:
            state.apply(event)
            if event.get("type") == "progress":
                on_events(state)
        if events and events[-1].get("type") != "progress":
            on_events(state)

    def alive():
        if process is not None:
            return process.poll() is None
        return not state.finished and engine_alive(state.pid)

    poll_events()
    while alive():
        if is_detached():
            return state
        if cancel_at is None and is_canceled():
            cancel_at = time.monotonic()
        if cancel_at is not None and job_dir and cancel_file:
            JobDir(Path(job_dir)).cancel_request.touch()
        if cancel_at is not None and time.monotonic() - cancel_at >= (grace_s if job_dir else 0):
            _terminate(process, state.pid)
            cancel_at = float("inf")  # terminate once
        time.sleep(poll_s)
        poll_events()
    poll_events()
    if process is not None and not state.finished:
        state.exit_code = process.returncode
        state.status = EXIT_STATUS.get(process.returncode, "failed")
        if cancel_at is not None and state.status == "failed":  # terminated on our request
            state.status = "cancelled"
    elif not state.finished:
        state.status = "interrupted"  # the process is gone without a `done` event
    if state.status == "failed" and not state.errors:
        state.errors = last_lines(console) or [f"The engine stopped with exit code {state.exit_code}."]
    return state


def _terminate(process, pid: int) -> None:
    if process is not None:
        process.terminate()
    elif engine_alive(pid):
        os.kill(pid, signal.SIGTERM)


def last_lines(console: Path, count: int = 8) -> list:
    """The engine's last console lines: exit code 2 prints one line per problem there."""
    try:
        lines = [l.strip() for l in console.read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return []
    return lines[-count:]
