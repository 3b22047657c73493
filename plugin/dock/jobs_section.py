"""The dock's Jobs section: the run shown (training or prediction), its progress, errors and log,
and every job and prediction run of the project with its state and disk use.

One place for every run's progress: a prediction shows here as a training does, not in the
Train section. Several runs may be followed at once (after a restart the dock follows every run
still going); the list picks the one whose progress and Cancel the section shows, the others
keep their list line up to date. It reads states from events.jsonl; it starts nothing (the dock
asks the JobController for that through its signals).
"""
from pathlib import Path

from qgis.PyQt.QtCore import QTimer, QUrl, Qt, pyqtSignal
from qgis.PyQt.QtGui import QDesktopServices, QTextCursor
from qgis.PyQt.QtWidgets import (QComboBox, QDialog, QHBoxLayout, QLabel, QMessageBox, QPlainTextEdit,
                                 QProgressBar, QPushButton, QVBoxLayout)
from qgis.gui import QgsCollapsibleGroupBox

from ..jobs import job_registry
from ..jobs.job_keeps import resume_note
from ..jobs.events import read_state
from ..jobs.jobdir import JobDir


class JobsSection(QgsCollapsibleGroupBox):
    cancelRequested = pyqtSignal(object)  # the Path of the run shown
    resumeRequested = pyqtSignal(object)  # the job's Path
    addResultsRequested = pyqtSignal(object)

    def __init__(self, parent=None):
        super().__init__("Jobs", parent)
        self.current_job = None  # Path of the job or prediction run shown
        self.followed = {}  # Path -> latest JobState of each run in progress the dock follows
        self.trainings = set()  # the followed runs that are trainings (they outlive QGIS)
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
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.cancel_button, self.log_button = QPushButton("Cancel"), QPushButton("Open log")
        self.cancel_button.setEnabled(False)
        self.log_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancelRequested.emit(self.current_job))
        self.log_button.clicked.connect(self.open_log)
        self.jobs = QComboBox()
        self.jobs.setToolTip("Jobs and prediction runs of this project; their events.jsonl tells their state.")
        self.jobs.activated.connect(lambda _: self.show_job(Path(self.jobs.currentData())))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue an interrupted or cancelled job from its last checkpoint.")
        self.resume_button.clicked.connect(lambda: self.resumeRequested.emit(self.current_job))
        self.add_results_button = QPushButton("Add results")
        self.keeps_label = QLabel()  # what Resume needs, what the job keeps on disk (job_keeps)
        self.keeps_label.setWordWrap(True)
        self.keeps_label.hide()
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
        layout.addWidget(self.keeps_label)
        # Jobs the dock does not follow (run from a terminal, or several after a restart) still
        # show their true state: the list reads their events again every few seconds.
        self.job_states_timer = QTimer(self)
        self.job_states_timer.setInterval(5000)
        self.job_states_timer.timeout.connect(self.refresh_states)
        self.job_states_timer.start()

    # ---- the runs in progress -----------------------------------------------------------------
    def run_started(self, job_dir: Path, training: bool) -> None:
        """A followed run starts: it becomes the run shown."""
        self.followed[job_dir] = None
        if training:
            self.trainings.add(job_dir)
        self.current_job = job_dir
        self.error_label.hide()
        self._show_followed()

    def cancelling(self, predict: bool) -> None:
        self.status_label.setText("cancelling the prediction…" if predict
                                  else "cancelling: the engine writes a checkpoint and stops…")

    def show_state(self, job_dir: Path, state) -> None:
        """A followed run reported: its list line follows it, and the view if it is the run shown."""
        self.followed[job_dir] = state
        index = self.jobs.findData(str(job_dir))
        if index >= 0:  # the Jobs list follows the run, not the state it had when the run started
            self.jobs.setItemText(index, _item_text(job_dir, state.status))
        if job_dir == self.current_job:
            self._show_followed()

    def run_ended(self, job_dir: Path, state, jobs: list) -> None:
        self.followed.pop(job_dir, None)
        self.trainings.discard(job_dir)
        if job_dir != self.current_job:
            self.fill(jobs, show=False)
            return
        self.cancel_button.setEnabled(False)
        self.detach_note.hide()
        self._show_progress(state)
        self.fill(jobs)
        if state.status in ("failed", "interrupted"):
            # This run's error, after the job's: a run refused before it could write events (the
            # job is another engine's) leaves the job's own state as it was.
            self.show_error(state.error_text() or "The engine stopped unexpectedly.")

    def _show_followed(self) -> None:
        """Show the run in progress `current_job`: its latest state, Cancel, the note on closing QGIS."""
        state = self.followed[self.current_job]
        self.cancel_button.setEnabled(True)
        self.log_button.setEnabled(True)
        self.resume_button.setEnabled(False)
        self.add_results_button.setEnabled(False)
        self.keeps_label.hide()
        self.detach_note.setVisible(self.current_job in self.trainings)
        if state is None:
            self.progress.setRange(0, 0)  # busy until the first progress event
            self.status_label.setText(f"{self.current_job.name}: starting the engine…")
        else:
            self._show_progress(state)

    def _show_progress(self, state) -> None:
        show_bar(self.progress, state)
        self.status_label.setText(f"{self.current_job.name}: {state.summary()}")

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

    def project_changed(self, jobs: list) -> None:
        """Another project (or none): list its `jobs`; a job of the last one is no longer shown,
        unless it still runs and the dock follows it."""
        if self.current_job is not None and self.current_job not in self.followed and self.current_job not in jobs:
            self.current_job = None
            self.status_label.setText("No job yet.")
            self.progress.setRange(0, 100)
            self.progress.setValue(0)
            self.error_label.hide()
            self.keeps_label.hide()
            for button in (self.cancel_button, self.log_button, self.resume_button, self.add_results_button):
                button.setEnabled(False)
        self.fill(jobs)

    def refresh_states(self) -> None:
        for index in range(self.jobs.count()):
            job_dir = Path(self.jobs.itemData(index))
            if job_dir in self.followed:
                continue  # a followed run updates its own line
            self.jobs.setItemText(index, _item_text(job_dir, read_state(job_dir).status))

    def show_job(self, job_dir: Path) -> None:
        """Show a job's state (from its events, or the live one of a followed run) and what can be done."""
        self.current_job = job_dir
        if job_dir in self.followed:
            self._show_followed()
            return
        self.cancel_button.setEnabled(False)
        self.detach_note.hide()
        state = read_state(job_dir)
        self.status_label.setText(f"{job_dir.name}: {state.summary()}")
        show_bar(self.progress, state)
        self.log_button.setEnabled(True)
        self.error_label.setVisible(state.status == "failed")
        self.error_label.setText(state.error_text())
        resumable, note = resume_note(job_dir, state.status)
        self.resume_button.setEnabled(resumable)
        self.resume_button.setToolTip(note or "Continue an interrupted or cancelled job from its last checkpoint.")
        self.keeps_label.setText(note)
        self.keeps_label.setVisible(bool(note))
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
            text.moveCursor(QTextCursor.MoveOperation.End)
            QVBoxLayout(self.log_view).addWidget(text)
            self.log_view.resize(800, 500)
            self.log_view.show()


def show_bar(bar, state) -> None:
    """The bar of the current phase: its own count, busy while the phase has none yet (a
    phase starts from 0, not at the last one's 100 %); a run that stopped says so on the bar, at
    the count where it stopped."""
    running = state.status in ("running", "cancelling")  # "pending" unfollowed: nothing runs
    if running and not state.total:
        bar.setRange(0, 0)  # busy: the phase has reported no count yet
        bar.setFormat("%p%")
        return
    bar.setRange(0, 100)
    done = state.status == "completed"
    bar.setValue(100 if done else int(100 * state.step / state.total) if state.total else 0)
    bar.setFormat("%p%" if running or done else f"{state.status} at %p%")


def _item_text(job_dir: Path, status: str) -> str:
    """Prediction runs are named predict-<time>, Quick maps quick-<time>, trainings <time>."""
    return f"{job_dir.name} — {status} · {job_registry.format_size(job_registry.disk_use(job_dir))}"
