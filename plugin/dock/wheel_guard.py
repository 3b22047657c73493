"""Combo boxes and spin boxes of the dock take the mouse wheel only when they have the focus.

Scrolling the dock passes over them; without this guard the wheel changed the setting under the
cursor (a photometric augmentation went from strong to none). An unfocused one lets the wheel go
on to the dock's scroll area; a click (or Tab) gives it the focus, then the wheel changes it.
"""
from qgis.PyQt.QtCore import QEvent, QObject, Qt
from qgis.PyQt.QtWidgets import QAbstractSpinBox, QComboBox


class _WheelGuard(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()  # on to the parent: the scroll area scrolls
            return True
        return False


_GUARD = _WheelGuard()


def guard(widget) -> None:
    """Guard `widget` itself when it is a combo or spin box, and every one inside it."""
    boxes = [w for w in [widget] + widget.findChildren(QComboBox) + widget.findChildren(QAbstractSpinBox)
             if isinstance(w, (QComboBox, QAbstractSpinBox))]
    for box in boxes:
        box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel gives no focus
        box.installEventFilter(_GUARD)
