"""The map refresh after "Train again": the visible area's map first (seconds), then the whole raster's.

A quick retraining writes no map itself (job.train_again asks for none); when it completes, the
refresh predicts the raster with the new model, the part shown on the canvas first so that the
analyst sees the effect of the new labels at once, then the whole raster, whose map replaces
the visible area's group in the layer tree.
"""
from pathlib import Path

from ..common import settings
from ..engine_process import engine
from ..jobs import job, job_registry
from ..jobs.jobdir import JobDir
from . import map_area


class MapRefresh:
    def __init__(self, dock):
        self._dock = dock  # its project, canvas, controller and sections (engine, options, predict, runs)
        self._after = {}  # JOB_DIR of a "Train again" -> the raster whose map it refreshes
        self._queue, self._raster, self._model = [], None, ""  # the refresh's predictions still to run
        self._partial = {}  # prediction run -> True for the visible area's, False for the whole raster's
        self._visible_group = None  # the visible area's group, removed when the whole map comes

    def after_training(self, job_dir: Path, raster) -> None:
        """Refresh `raster`'s map once the training `job_dir` completes."""
        self._after[Path(job_dir)] = raster

    def stop(self, job_dir: Path) -> None:
        """A run ended without completing: a refresh it belongs to ends with it."""
        self._after.pop(Path(job_dir), None)
        if self._partial.pop(Path(job_dir), None) is not None:
            self._queue = []

    def trained(self, job_dir: Path) -> bool:
        """`job_dir` completed: when it was a Train again, start its refresh and say so."""
        raster = self._after.pop(Path(job_dir), None)
        if raster is None:
            return False
        d = self._dock
        self._model = str(JobDir(job_dir).model)
        d.predict.model_dir.setFilePath(self._model)  # Predict offers the new model from now on
        part = None
        if d.canvas is not None:
            part = map_area.part_of_layer(d.canvas.extent(), d.canvas.mapSettings().destinationCrs(), raster, d.project)
        self._queue = ([map_area.bounds_args(part)] if part is not None and part != raster.extent() else []) + [[]]
        self._raster = raster
        self._next()
        return True

    def mapped(self, job_dir: Path, groups: list) -> None:
        """The maps of the prediction run `job_dir` are in the layer tree: swap the quick look, go on."""
        partial = self._partial.pop(Path(job_dir), None)
        if partial is None:
            return
        project = self._dock.project
        if partial is False and self._visible_group is not None:  # the whole map replaces the quick look
            old = project.layerTreeRoot().findGroup(self._visible_group)
            if old is not None:
                project.removeMapLayers([n.layerId() for n in old.findLayers()])
                old.parent().removeChildNode(old)
            self._visible_group = None
        if partial and groups:
            self._visible_group = groups[0].name()
        if self._queue:
            self._next()

    def _next(self):
        d, extra, raster = self._dock, self._queue.pop(0), self._raster
        out_dir = job.new_job_dir(settings.jobs_folder(), d.project, "predict-")
        job_registry.remember(out_dir, d.project)
        try:
            task = d.controller.predict(d.engine.python(), self._model, raster.name(), raster.source(), out_dir,
                                        d.options.device.currentText(), extra, d.options.polygons.isChecked())
        except engine.EngineError as e:
            self._queue = []
            d.runs.show_error(str(e))
            return None
        self._partial[out_dir] = bool(extra)  # True: the visible area's map, replaced by the whole one
        return task
