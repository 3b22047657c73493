"""The job controller: starts, follows, cancels and lets go of the dock's engine runs.

It owns the one EngineTask the dock follows (the dock's sections only build requests and show
states), as a plugin owns the task of a dock that emits a parameter object.
"""
from pathlib import Path

from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.core import QgsApplication

from . import engine
from .jobdir import JobDir
from .task import EngineTask


class JobController(QObject):
    started = pyqtSignal(object)  # the EngineTask, once handed to QGIS's task manager

    def __init__(self, parent=None):
        super().__init__(parent)
        self.task = None  # the running EngineTask (kept referenced while it runs)

    def busy(self) -> bool:
        return self.task is not None

    def train(self, python: str, job_dir: Path, device: str, resume: bool = False) -> EngineTask:
        """Run `semiseg train` on a written job (EngineError: no usable engine)."""
        args = engine.train_command(python, job_dir, device, resume)
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", args, job_dir, JobDir(job_dir).console))

    def attach(self, job_dir: Path) -> EngineTask:
        """Follow a job started by an earlier QGIS session until it ends."""
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", None, job_dir, JobDir(job_dir).console))

    def predict(self, python: str, model: str, raster, out_dir: Path, device: str, area: list,
                polygons: bool) -> EngineTask:
        args = engine.predict_command(python, model, raster.source(), out_dir, device, area, polygons)
        return self._run(EngineTask(f"SemiSeg: predict {raster.name()}", args, out_dir, JobDir(out_dir).console,
                                    predict=True))

    def _run(self, task: EngineTask) -> EngineTask:
        self.task = task
        task.ended.connect(self._ended)
        self.started.emit(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _ended(self, _state) -> None:
        self.task = None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def detach(self) -> None:
        """Stop following (the plugin unloads): a training goes on, the next dock follows it again."""
        if self.task is not None:
            for signal in (self.task.stateChanged, self.task.ended):
                try:
                    signal.disconnect()
                except TypeError:  # nothing connected
                    pass
            self.task.detach()
            self.task = None
