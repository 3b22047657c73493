"""The dock's Engine section: which engine Python, where jobs go, and a verdict always in view."""
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton
from qgis.core import QgsApplication
from qgis.gui import QgsCollapsibleGroupBox, QgsFileWidget

from ..common import settings
from ..common.background import BackgroundCall
from ..common.paths import plugin_version
from ..engine_process.engine_setup import SetupEngineTask, ask_doctor, format_report, verdict


# The longest title that fits a dock of ~420 px: "Engine 0.7.0 ready · CPU, 16 threads (no GPU)".
TITLE_CHARS = 45

class EngineSection(QgsCollapsibleGroupBox):
    pythonChanged = pyqtSignal(str)  # the engine to ask (methods, health) and to run jobs with
    reportReceived = pyqtSignal(dict)  # the engine's `doctor --json` answer (its GPUs, for Predict)

    def __init__(self, parent=None):
        super().__init__("Engine", parent)
        self.doctor_query = None  # asking the engine how it is
        self.setup_task = None
        self.python_edit = QgsFileWidget()
        self.python_edit.setFilePath(settings.engine_python())
        self.python_edit.setToolTip("The Python of the engine's environment (where `semiseg` is installed).")
        self.python_edit.fileChanged.connect(settings.set_engine_python)
        self.python_edit.fileChanged.connect(lambda _: self.check_engine())
        self.python_edit.fileChanged.connect(self.pythonChanged)
        check, setup = QPushButton("Check engine"), QPushButton("Set up engine")
        setup.setToolTip("Create a virtual environment in your QGIS profile and install the engine "
                         "(PyTorch included: a large download).")
        check.clicked.connect(self.check_engine)
        setup.clicked.connect(self.set_up_engine)
        self.engine_label = QLabel()
        self.engine_label.setWordWrap(True)
        self.engine_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(check)
        buttons.addWidget(setup)
        self.jobs_folder = QgsFileWidget()
        self.jobs_folder.setStorageMode(QgsFileWidget.GetDirectory)
        self.jobs_folder.setFilePath(settings.jobs_folder())
        self.jobs_folder.lineEdit().setPlaceholderText("next to the project")
        self.jobs_folder.setToolTip("Where new job folders go; empty = <project folder>/semiseg_jobs.")
        self.jobs_folder.fileChanged.connect(settings.set_jobs_folder)
        form = QFormLayout(self)
        form.addRow("Engine Python", self.python_edit)
        form.addRow("Jobs folder", self.jobs_folder)
        form.addRow(buttons)
        form.addRow(self.engine_label)
        self.setCollapsed(bool(settings.engine_python()))

    def python(self) -> str:
        return self.python_edit.filePath()

    def check_engine(self) -> None:
        """Ask the engine how it is (in the background); the verdict goes on the section's title."""
        python = self.python()
        if not python:
            self.show_status("No engine yet: \"Set up engine\", or pick one.", "")
            return
        self.show_status("Engine: checking…", "")
        query = self.doctor_query = BackgroundCall(lambda: ask_doctor(python))
        query.answered.connect(self._doctor_answered)  # a slot of this widget: queued onto the GUI thread
        query.start()

    def _doctor_answered(self, query: BackgroundCall) -> None:
        if sip.isdeleted(self) or query is not self.doctor_query:
            return  # the engine Python changed since, or the dock is gone
        self.doctor_query = None
        report, error = query.result
        if report is None:
            self.show_status(f"Engine not usable: {error}", "")
        else:
            self.show_status(verdict(report, plugin_version()), format_report(report))
            self.reportReceived.emit(report)

    def show_status(self, line: str, details: str) -> None:
        """Always in view: on the section's title (seen collapsed too; cut to TITLE_CHARS, as a
        title does not wrap and would widen the dock past its edge) and whole below its buttons."""
        title = line if line.startswith("Engine") else f"Engine — {line}"
        self.setTitle(title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1].rstrip(" ,:;·") + "…")
        self.engine_label.setText(line)
        self.engine_label.setToolTip(details)
        self.setToolTip(details)

    def set_up_engine(self) -> None:
        task = self.setup_task = SetupEngineTask()
        source = f"the wheels in {task.wheels}" if task.wheels else "PyPI"
        self.show_status(f"Engine: installing into {task.venv} from {source}…", f"log: {task.log}")
        # The same path as before (a half-built environment set up again) changes no file: ask anyway.
        task.taskCompleted.connect(lambda: (self.python_edit.setFilePath(task.python), self.check_engine()))
        task.taskTerminated.connect(lambda: self.show_status(
            "Engine set-up cancelled." if task.error == "cancelled" else "Engine set-up failed: " + task.error,
            f"log: {task.log}"))
        QgsApplication.taskManager().addTask(task)

    def dispose(self) -> None:
        """Answers and a set-up that end after the dock is gone update nothing."""
        self.doctor_query = None
        if self.setup_task is not None and not sip.isdeleted(self.setup_task):
            for signal in (self.setup_task.taskCompleted, self.setup_task.taskTerminated):
                try:
                    signal.disconnect()
                except TypeError:  # nothing connected
                    pass
