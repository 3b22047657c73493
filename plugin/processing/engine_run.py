"""Running an engine command from a Processing algorithm: feedback, cancel, styled outputs.

Processing already runs algorithms in a worker thread (or the caller's thread for
processing.run), so the engine is followed synchronously here with `engine.watch`.
"""
from pathlib import Path

from qgis.core import (QgsProcessingContext, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface)

from .. import engine, results

_post_processors = []  # keep them alive until Processing has loaded the layers on the GUI thread


def run_engine(args: list, job_dir, console: Path, feedback, predict: bool = False) -> None:
    """Start the engine and follow it; raise QgsProcessingException with the engine's error.

    `job_dir` holds events.jsonl and log.txt (a prediction's --out folder with `predict`).
    """
    feedback.pushInfo("Running: " + " ".join(args))

    def report(state):
        if state.total:
            feedback.setProgress(100.0 * state.step / state.total)
        feedback.setProgressText(state.summary())

    try:
        state = engine.watch(job_dir, engine.start(args, console), report, feedback.isCanceled, console,
                             cancel_file=not predict, unit="window" if predict else "step")
    except (OSError, engine.EngineError) as e:
        raise QgsProcessingException(str(e))
    if state.status == "cancelled":
        raise QgsProcessingException("Cancelled." if predict else
                                     "Cancelled: the engine wrote a checkpoint and stopped.")
    if state.status != "completed":
        log = Path(job_dir) / "log.txt" if job_dir and (Path(job_dir) / "log.txt").is_file() else console
        raise QgsProcessingException(f"{state.error_text()} (log: {log})")
    feedback.pushInfo(state.summary())


class _PredictionLayerLoader(QgsProcessingLayerPostProcessorInterface):
    """Styles a loaded output with the engine's QML and groups it as the dock groups its own."""

    def __init__(self, qml: Path, kind: str, group: str, source: str):
        super().__init__()
        self.qml, self.kind, self.group, self.source = qml, kind, group, source

    def postProcessLayer(self, layer, context, feedback):
        if self.qml.is_file():
            layer.loadNamedStyle(str(self.qml))
            layer.triggerRepaint()
        results.move_into_prediction_group(layer, self.kind, self.group, context.project(), self.source)


def load_on_completion(path: Path, kind: str, source: str, output_name: str, group: str, context) -> None:
    """Ask Processing to add the `kind` output at `path` (classes, confidence, polygons) predicted
    from the raster file `source` to the project when done, styled and in `group` like the dock's."""
    if context.project() is None:  # e.g. qgis_process without a project: nothing to load into
        return
    details = QgsProcessingContext.LayerDetails(f"{Path(source).stem} {kind}", context.project(), output_name)
    loader = _PredictionLayerLoader(path.with_suffix(".qml"), kind, group, source)
    _post_processors.append(loader)
    details.setPostProcessor(loader)
    context.addLayerToLoadOnCompletion(str(path), details)
