"""A function run off the GUI thread, for quick questions to the engine (its methods, its health).

Not a QgsTask: QGIS announces the end of every task ("Task complete: ...") as if it were the
user's work, and asks about running tasks when it closes.
"""
from qgis.PyQt.QtCore import QThread, pyqtSignal

_running = []  # a call must outlive whoever asked: a QThread destroyed while it runs aborts QGIS


class BackgroundCall(QThread):
    """Runs `function()`; `answered(call)` (queued to a receiver on the GUI thread) once `result` holds its value."""
    answered = pyqtSignal(object)

    def __init__(self, function):
        super().__init__()
        self.function, self.result = function, None
        _running.append(self)
        self.finished.connect(lambda: _running.remove(self) if self in _running else None)

    def run(self) -> None:
        self.result = self.function()
        self.answered.emit(self)
