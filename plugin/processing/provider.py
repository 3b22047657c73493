"""Processing provider "SemiSeg" (id `semiseg`): Train model, Predict, Open SEG-Y, Export map."""
from qgis.PyQt.QtGui import QIcon
from qgis.core import QgsProcessingProvider

from ..common.paths import icon_path
from .export_map_algorithm import ExportMapAlgorithm
from .open_segy_algorithm import OpenSegyAlgorithm
from .predict_algorithm import PredictAlgorithm
from .train_algorithm import TrainAlgorithm


class SemiSegProvider(QgsProcessingProvider):
    def id(self):
        return "semiseg"

    def name(self):
        return "SemiSeg"

    def icon(self):
        return QIcon(icon_path("semiseg.svg"))

    def loadAlgorithms(self):
        self.addAlgorithm(TrainAlgorithm())
        self.addAlgorithm(PredictAlgorithm())
        self.addAlgorithm(OpenSegyAlgorithm())
        self.addAlgorithm(ExportMapAlgorithm())
