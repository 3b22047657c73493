"""The job controller: starts, follows, cancels and lets go of the dock's engine runs.

It owns the EngineTasks the dock follows (the dock's sections only build requests and show
states), as a plugin owns the task of a dock that emits a parameter object. The dock starts one
run at a time (two trainings on a laptop's cores would each take twice as long), but after a
restart it follows every run still going, whoever started it.
"""
from pathlib import Path

from qgis.PyQt.QtCore import QObject, pyqtSignal
from qgis.core import QgsApplication

from ..jobs.jobdir import JobDir
from . import engine
from .task import EngineTask


class JobController(QObject):
    started = pyqtSignal(object)  # the EngineTask, once handed to QGIS's task manager

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tasks = {}  # job or prediction-run Path -> its EngineTask (kept referenced while it runs)

    def busy(self) -> bool:
        return bool(self.tasks)

    def task_of(self, job_dir) -> EngineTask:
        """The task following `job_dir`, or None."""
        return self.tasks.get(Path(job_dir)) if job_dir is not None else None

    def train(self, python: str, job_dir: Path, device: str, resume: bool = False) -> EngineTask:
        """Run `semiseg train` on a written job (EngineError: no usable engine)."""
        args = engine.train_command(python, job_dir, device, resume)
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", args, job_dir, JobDir(job_dir).console))

    def attach(self, job_dir: Path) -> EngineTask:
        """Follow a job started by an earlier QGIS session (or a terminal) until it ends."""
        if self.task_of(job_dir) is not None:
            return self.task_of(job_dir)
        return self._run(EngineTask(f"SemiSeg: train {job_dir.name}", None, job_dir, JobDir(job_dir).console))

    def predict(self, python: str, model: str, name: str, source: str, out_dir: Path, device: str, extra: list,
                polygons: bool, devices: int = 1) -> EngineTask:
        """Run `semiseg predict` on the file `source` (layer `name`); `extra`: its --bounds or SEG-Y lines;
        `devices`: processes (GPUs) sharing it."""
        args = engine.predict_command(python, model, source, out_dir, device, extra, polygons, devices)
        return self._run(EngineTask(f"SemiSeg: predict {name}", args, out_dir, JobDir(out_dir).console,
                                    predict=True))

    def _run(self, task: EngineTask) -> EngineTask:
        job_dir = Path(task.job_dir)
        self.tasks[job_dir] = task
        task.ended.connect(lambda _state: self._ended(task))
        self.started.emit(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _ended(self, task: EngineTask) -> None:
        job_dir = Path(task.job_dir)
        if self.tasks.get(job_dir) is task:
            self.tasks.pop(job_dir)
        if task.released:  # QGIS let go of the task, not of the run: follow it again while QGIS stays
            self.attach(job_dir)

    def cancel(self, job_dir) -> bool:
        """Ask the run of `job_dir` to stop; False: the dock follows no such run."""
        task = self.task_of(job_dir)
        if task is not None:
            task.stop()
        return task is not None

    def detach(self) -> None:
        """Stop following (the plugin unloads): trainings go on, the next dock follows them again."""
        for task in self.tasks.values():
            for signal in (task.stateChanged, task.ended):
                try:
                    signal.disconnect()
                except TypeError:  # nothing connected
                    pass
            task.detach()
        self.tasks.clear()
