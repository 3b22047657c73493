"""The dock's Jobs section: the run in progress (training or prediction), its errors and log, and
every job and prediction run of the project with its state and disk use.

One place for every run's progress: a prediction shows here as a training does, not in the
Train section. It reads states from events.jsonl; it starts nothing (the dock asks the
JobController for that through its signals).
"""
from pathlib import Path

from qgis.PyQt.QtCore import QTimer, QUrl, Qt, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices, QTextCursor
from qgis.PyQt.QtWidgets import (QComboBox, QDialog, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit,
                                 QProgressBar, QPushButton, QVBoxLayout)
from qgis.gui import QgsCollapsibleGroupBox

from . import job_registry
from .events import read_state
from .jobdir import JobDir


class JobsSection(QgsCollapsibleGroupBox):
    cancelRequested = pyqtSignal()
    resumeRequested = pyqtSignal(object)  # the job's Path
    addResultsRequested = pyqtSignal(object)

    def __init__(self, parent=None):
        super().__init__("Jobs", parent)
        self.current_job = None  # Path of the job or prediction run shown
        self.following = False  # a run of this dock is in progress: its events update the view
        self.log_view = None  # the log in a QGIS window, where no program opens text files
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status_label = QLabel("No job yet.")
        self.detach_note = QLabel("Closing QGIS leaves this training running (the engine is its own process); "
                                  "the dock follows it again when the project is opened.")
        self.error_label = QLabel()
        for label in (self.status_label, self.detach_note, self.error_label):
            label.setWordWrap(True)
        self.detach_note.hide()
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.hide()
        self.cancel_button, self.log_button = QPushButton("Cancel"), QPushButton("Open log")
        self.cancel_button.setEnabled(False)
        self.log_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.log_button.clicked.connect(self.open_log)
        self.jobs = QComboBox()
        self.jobs.setToolTip("Jobs and prediction runs of this project and recent ones; their events.jsonl "
                             "tells their state.")
        self.jobs.activated.connect(lambda _: self.show_job(Path(self.jobs.currentData())))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue an interrupted or cancelled job from its last checkpoint.")
        self.resume_button.clicked.connect(lambda: self.resumeRequested.emit(self.current_job))
        self.add_results_button = QPushButton("Add results")
        self.add_results_button.clicked.connect(lambda: self.addResultsRequested.emit(self.current_job))
        run_row, job_row = QHBoxLayout(), QHBoxLayout()
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.log_button)
        job_row.addWidget(self.resume_button)
        job_row.addWidget(self.add_results_button)
        layout = QVBoxLayout(self)
        layout.addLayout(run_row)
        for widget in (self.status_label, self.detach_note, self.error_label, self.jobs):
            layout.addWidget(widget)
        layout.addLayout(job_row)
        # Jobs the dock does not follow (run from a terminal, or several after a restart) still
        # show their true state: the list reads their events again every few seconds.
        self.job_states_timer = QTimer(self)
        self.job_states_timer.setInterval(5000)
        self.job_states_timer.timeout.connect(self.refresh_states)
        self.job_states_timer.start()

    # ---- the run in progress ------------------------------------------------------------------
    def run_started(self, job_dir: Path, training: bool) -> None:
        self.following, self.current_job = True, job_dir
        self.cancel_button.setEnabled(True)
        self.log_button.setEnabled(True)
        self.error_label.hide()
        self.progress.setRange(0, 0)  # busy until the first progress event
        self.status_label.setText("starting the engine…")
        self.detach_note.setVisible(training)

    def cancelling(self, predict: bool) -> None:
        self.status_label.setText("cancelling the prediction…" if predict
                                  else "cancelling: the engine writes a checkpoint and stops…")

    def show_state(self, state) -> None:
        if state.total:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(100 * state.step / state.total))
        self.status_label.setText(state.summary())
        index = self.jobs.findData(str(self.current_job)) if self.current_job is not None else -1
        if index >= 0:  # the Jobs list follows the run, not the state it had when the run started
            self.jobs.setItemText(index, _item_text(self.current_job, state.status))

    def run_ended(self, state, jobs: list) -> None:
        self.following = False
        self.detach_note.hide()
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 100)
        self.show_state(state)
        self.fill(jobs)
        if state.status in ("failed", "interrupted"):
            # This run's error, after the job's: a run refused before it could write events (the
            # job is another engine's) leaves the job's own state as it was.
            self.show_error(state.error_text() or "The engine stopped unexpectedly.")

    # ---- the list -----------------------------------------------------------------------------
    def fill(self, jobs: list, show: bool = True) -> None:
        """List `jobs` (newest last, shown first); `show`: show the current job's stored state."""
        self.jobs.clear()
        for job_dir in reversed(jobs):
            self.jobs.addItem(_item_text(job_dir, read_state(job_dir).status), str(job_dir))
        index = self.jobs.findData(str(self.current_job)) if self.current_job is not None else 0
        if index >= 0 and self.jobs.count():  # a run not listed yet (no events) stays the one shown
            self.jobs.setCurrentIndex(index)
            if show:
                self.show_job(Path(self.jobs.currentData()))

    def refresh_states(self) -> None:
        for index in range(self.jobs.count()):
            job_dir = Path(self.jobs.itemData(index))
            if self.following and job_dir == self.current_job:
                continue  # the followed run updates its own line
            self.jobs.setItemText(index, _item_text(job_dir, read_state(job_dir).status))

    def show_job(self, job_dir: Path) -> None:
        """Show a job's state (from its events) and what can be done with it."""
        if self.following:
            return
        self.current_job = job_dir
        state = read_state(job_dir)
        self.status_label.setText(f"{job_dir.name}: {state.summary()}")
        self.progress.setValue(int(100 * state.step / state.total) if state.total else 0)
        self.log_button.setEnabled(True)
        self.error_label.setVisible(state.status == "failed")
        self.error_label.setText(state.error_text())
        self.resume_button.setEnabled(state.status in ("cancelled", "interrupted") and
                                      JobDir(self.current_job).last_checkpoint.is_file())
        self.add_results_button.setEnabled(state.status == "completed")

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    # ---- the log ------------------------------------------------------------------------------
    def log_path(self):
        """The engine's log.txt of the current run, else what the engine printed; None: no run yet."""
        return JobDir(self.current_job).best_log() if self.current_job is not None else None

    def open_log(self) -> None:
        path = self.log_path()
        if path is None or not path.is_file():
            QMessageBox.information(self, "SemiSeg", "There is no log yet.")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):  # no program opens text files here
            self.log_view = QDialog(self)
            self.log_view.setWindowTitle(f"SemiSeg log: {path}")
            text = QPlainTextEdit(path.read_text(errors="replace")[-200_000:])  # the end is what tells
            text.setReadOnly(True)
            text.moveCursor(QTextCursor.End)
            QVBoxLayout(self.log_view).addWidget(text)
            self.log_view.resize(800, 500)
            self.log_view.show()


def _item_text(job_dir: Path, status: str) -> str:
    """Prediction runs are named predict-<time>, Quick maps quick-<time>, trainings <time>."""
    return f"{job_dir.name} — {status} · {job_registry.format_size(job_registry.disk_use(job_dir))}"
