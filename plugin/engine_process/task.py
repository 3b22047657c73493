"""The QgsTask that runs (or re-attaches to) one engine run in the background.

Progress shows in the task manager; `stateChanged` carries a JobState snapshot to the dock
(queued onto the GUI thread by Qt), `ended` the final state from `finished()` on the GUI thread.
The task never touches layers.
"""
import copy
from pathlib import Path

from qgis.PyQt.QtCore import pyqtSignal
from qgis.core import QgsTask

from ..jobs.events import JobState
from ..jobs.jobdir import JobDir
from . import engine


class EngineTask(QgsTask):
    stateChanged = pyqtSignal(object)
    ended = pyqtSignal(object)  # the final JobState; "running" or "pending" when the task let go of the run

    def __init__(self, description: str, args, job_dir, console: Path, predict: bool = False):
        """`args`: the engine command to start, or None to follow a job already running.

        `job_dir`: where events.jsonl appears; `predict`: a `semiseg predict --events` run
        (progress counts windows; cancel terminates it, there is no checkpoint to write).
        """
        # A training is its own process by design, and closing QGIS leaves it running. QGIS cancels
        # every task as it closes, before it asks to save the project (so also when the user then
        # stays), without asking for a task flagged CancelWithoutPrompt: such a cancel only lets go
        # of the run (`released`; the controller follows it again if QGIS stays). Only stop(), the
        # Jobs section's Cancel, asks the engine to stop; no CanCancel, so QGIS's task list offers
        # no cancel button that would mean something else.
        super().__init__(description, QgsTask.CanCancel if predict else QgsTask.CancelWithoutPrompt)
        self.args, self.job_dir, self.console = args, job_dir, Path(console)
        self.predict = predict
        self.state = JobState(unit="window" if predict else "step")
        self._detached = False
        self._stop_asked = False
        self.released = False  # QGIS cancelled the task, not the plugin: the training goes on

    def detach(self) -> None:
        """Stop following the run and leave it running (the plugin unloads; a new dock re-attaches)."""
        self._detached = True

    def stop(self) -> None:
        """Ask the engine to stop: a training checkpoints and exits (resume continues it)."""
        self._stop_asked = True
        self.cancel()

    def cancel(self) -> None:
        """QGIS's cancel (it cancels every task as it closes) lets go of a training; stop() stops it."""
        if not self.predict and not self._stop_asked and not self._detached:
            self.released = True
            self.detach()
        super().cancel()

    def run(self) -> bool:
        try:
            process = engine.start(self.args, self.console) if self.args else None
            self.state = engine.watch(self.job_dir, process, self._report, self.isCanceled, self.console,
                                      cancel_file=not self.predict, unit=self.state.unit,
                                      is_detached=lambda: self._detached)
        except (OSError, engine.EngineError) as e:
            self.state = JobState(status="failed", errors=[str(e)])
        if self._detached and self.state.status in ("pending", "running"):
            self.setDescription(f"{self.description()} (goes on outside QGIS)")
            return True  # the run goes on, unwatched: no "Task failed"
        if self.state.status == "cancelled":
            # QGIS 3.22 names a task's end only "complete" or "failed": a cancel is neither a
            # failure nor a result, so it ends as complete and says what happened in its name.
            self.setDescription(f"{self.description()} (cancelled)")
        return self.state.status in ("completed", "cancelled")

    def _report(self, state: JobState) -> None:
        if state.total:
            self.setProgress(100.0 * state.step / state.total)
        snapshot = copy.deepcopy(state)
        if self.isCanceled() and snapshot.status == "running":  # asked to stop: events until then still say running
            snapshot.status, snapshot.eta_s = "cancelling", None
        self.stateChanged.emit(snapshot)

    def finished(self, result: bool) -> None:
        if self.state.status == "pending" and not self._detached:  # cancelled before it started
            if self.args is None and not self.predict:  # a job already running: it is asked to stop
                JobDir(Path(self.job_dir)).cancel_request.touch()
            self.state.status = "cancelled"
        self.ended.emit(self.state)
