"""Running an engine command from a Processing algorithm: feedback, cancel, styled outputs.

Processing already runs algorithms in a worker thread (or the caller's thread for
processing.run), so the engine is followed synchronously here with `engine.watch`.
"""
from pathlib import Path

from qgis.core import (QgsProcessingContext, QgsProcessingException,
                       QgsProcessingLayerPostProcessorInterface)

from ..engine_process import engine
from ..jobs.jobdir import JobDir
from ..maps import results

_post_processors = []  # keep them alive until Processing has loaded the layers on the GUI thread


def run_engine(args: list, job_dir: Path, feedback, predict: bool = False):
    """Start the engine and follow it to its end (JobState); raise QgsProcessingException with the
    engine's error.

    `job_dir` holds events.jsonl and log.txt (a prediction's --out folder with `predict`).
    """
    folder = JobDir(Path(job_dir))
    console = folder.console
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
        raise QgsProcessingException(f"{state.error_text()} (log: {folder.best_log()})")
    feedback.pushInfo(state.summary())
    return state


def keep_alive(post_processor):
    """`post_processor`, referenced until Processing has run it on the GUI thread."""
    _post_processors.append(post_processor)
    return post_processor


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


# Processing's output names for each kind of file a prediction writes.
OUTPUT_KEYS = {"classes": "CLASSES_RASTER", "confidence": "CONFIDENCE_RASTER", "polygons": "POLYGONS_LAYER",
               "suggestions": "SUGGESTIONS_LAYER"}


def load_outputs(job_dir: Path, state, source: str, group: str, context) -> dict:
    """The outputs the engine reported for the raster file `source` ({output name: path}), each
    map to be added to the project when the algorithm is done, styled and in `group` like the
    dock's; the class-area table (JSON) as AREAS_TABLE."""
    files = results.outputs_of(Path(job_dir), state.outputs, source)
    missing = [kind for kind in ("classes", "confidence") if kind not in files]
    if missing:
        raise QgsProcessingException(f"The engine reported no {' or '.join(missing)} raster of {source} "
                                     f"(log: {JobDir(Path(job_dir)).best_log()})")
    layers = {kind: path for kind, path in files.items() if kind in OUTPUT_KEYS}
    for kind, path in layers.items():
        _load_on_completion(path, kind, source, OUTPUT_KEYS[kind], group, context)
    tables = {"AREAS_TABLE": str(files["areas"])} if "areas" in files else {}
    return {**{OUTPUT_KEYS[kind]: str(path) for kind, path in layers.items()}, **tables}


def _load_on_completion(path: Path, kind: str, source: str, output_name: str, group: str, context) -> None:
    """Ask Processing to add the `kind` output at `path` (classes, confidence, polygons) predicted
    from the raster file `source` to the project when done, styled and in `group` like the dock's."""
    if context.project() is None:  # e.g. qgis_process without a project: nothing to load into
        return
    details = QgsProcessingContext.LayerDetails(f"{Path(source).stem} {kind}", context.project(), output_name)
    details.setPostProcessor(keep_alive(_PredictionLayerLoader(path.with_suffix(".qml"), kind, group, source)))
    context.addLayerToLoadOnCompletion(str(path), details)
