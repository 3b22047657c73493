from PyQt6.QtWidgets import *  # noqa: F401,F403
# QGIS 4 keeps the classes Qt6 moved to QtGui importable from QtWidgets (qgis/QGIS PRs 55658, 57467).
from PyQt6.QtGui import QAction, QActionGroup, QShortcut  # noqa: F401
