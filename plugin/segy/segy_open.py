"""Opening a SEG-Y volume from the dock: its geometry, the lines chosen in the dialog, the
sections cut by the engine in the background, and the layers loaded when they are written."""
from pathlib import Path

from qgis.PyQt.QtCore import QObject, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QApplication, QDialog, QFileDialog
from qgis.core import QgsApplication

from ..common import settings
from ..engine_process import engine
from ..engine_process.task import EngineTask
from ..jobs.jobdir import JobDir
from . import segy
from .segy_dialog import OpenSegyDialog

FILE_FILTER = "SEG-Y (*.sgy *.segy *.SGY *.SEGY);;All files (*)"


class SegyOpener(QObject):
    opened = pyqtSignal(list)  # the section and slice layers, first section first
    failed = pyqtSignal(str)  # one line: what went wrong

    def __init__(self, project, parent=None):
        super().__init__(parent)
        self.project = project
        self.task = None  # the running `semiseg segy sections` (kept referenced while it runs)

    def open(self, python: str, volume: str = "", selection=None, parent=None):
        """Ask for a volume (unless given) and its lines (unless `selection`), then cut them in a task."""
        volume = volume or QFileDialog.getOpenFileName(parent, "Open SEG-Y", "", FILE_FILTER)[0]
        if not volume:
            return None
        try:
            if selection is None:
                QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # the headers of every trace are read: seconds
                try:
                    info = segy.read_info(python, volume)
                finally:
                    QApplication.restoreOverrideCursor()
                dialog = OpenSegyDialog(volume, info, parent)
                if dialog.exec() != QDialog.DialogCode.Accepted:
                    return None
                selection = dialog.selection()
            out = sections_folder(settings.jobs_folder(), self.project, volume)
            args = segy.sections_command(python, volume, out, selection.inlines, selection.crosslines,
                                         selection.times, selection.every, selection.crs)
            out.mkdir(parents=True, exist_ok=True)
        except (engine.EngineError, ValueError, OSError) as e:
            self.failed.emit(str(e))
            return None
        console = JobDir(out).console
        console.unlink(missing_ok=True)  # it lists what this run wrote
        self.task = EngineTask(f"SemiSeg: open {Path(volume).name}", args, None, console, predict=True)
        self.task.ended.connect(lambda state: self._ended(state, volume, console))
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _ended(self, state, volume: str, console: Path) -> None:
        self.task = None
        if state.status != "completed":
            if state.status != "cancelled":
                self.failed.emit(state.error_text() or f"The engine could not cut sections of {volume}.")
            return
        try:
            layers = segy.add_sections(segy.written_rasters(console.read_text(errors="replace")), volume, self.project)
        except OSError as e:
            self.failed.emit(str(e))
            return
        self.opened.emit(layers)


def sections_folder(base: str, project, volume: str) -> Path:
    """Where a volume's sections go: `<jobs folder, else project folder, else home>/semiseg_segy/<stem>`."""
    root = Path(base) if base else Path(project.homePath() or Path.home())
    return root / "semiseg_segy" / Path(volume).stem
