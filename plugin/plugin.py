"""Plugin entry point: toolbar icon, Plugins menu entry, the dock and the Processing provider."""
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
# QAction is in QtGui in Qt6; QGIS 4 keeps it importable from qgis.PyQt.QtWidgets for plugins
# shared with QGIS 3, where it is only there (qgis/QGIS pull request 55658).
from qgis.PyQt.QtWidgets import QAction
from qgis.core import QgsApplication

from .common.paths import icon_path

MENU = "&SemiSeg"


class SemiSegPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.dock = None
        self.action = None
        self.provider = None

    def initProcessing(self):
        """Called by QGIS (hasProcessingProvider=yes) also when no GUI is running (qgis_process)."""
        from .processing.provider import SemiSegProvider
        self.provider = SemiSegProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()
        self.action = QAction(QIcon(icon_path("semiseg.svg")), "SemiSeg", self.iface.mainWindow())
        self.action.setCheckable(True)
        self.action.setToolTip("SemiSeg: label, train and predict")
        self.iface.addToolBarIcon(self.action)
        self.iface.addPluginToMenu(MENU, self.action)
        # Created now (hidden) so that jobs still running from an earlier session are followed.
        from .dock.dock import SemiSegDock
        self.dock = SemiSegDock(self.iface.mainWindow(), self.iface.mapCanvas())
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.dock.visibilityChanged.connect(self.action.setChecked)
        self.action.toggled.connect(self.dock.setVisible)
        # QGIS cancels the tasks left at its exit: the dock lets go of a training run before that.
        QgsApplication.instance().aboutToQuit.connect(self.dock.dispose)

    def unload(self):
        if self.dock is not None:
            QgsApplication.instance().aboutToQuit.disconnect(self.dock.dispose)
            self.dock.dispose()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None:
            self.iface.removePluginMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
