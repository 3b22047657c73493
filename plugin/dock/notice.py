"""A one-paragraph message shown right under the buttons it answers.

A refusal or a result shown only in the Jobs section at the bottom of the dock was scrolled out
of view, so pressing "Train again" seemed to do nothing (issue 41, item 4): each group of
buttons has its own Notice, and the dock scrolls it into view when it speaks.
"""
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel

ERROR_STYLE = "color: #b00020;"


class Notice(QLabel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.is_error = False
        self.hide()

    def say(self, text: str, error: bool = False) -> None:
        """Show `text` (red when it is a refusal or a failure); "" hides the notice."""
        self.is_error = bool(text) and error
        self.setStyleSheet(ERROR_STYLE if self.is_error else "")
        self.setText(text)
        self.setVisible(bool(text))
