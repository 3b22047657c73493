"""Everything training needs from one domain: held-out blocks, band statistics, windows, validator."""

from __future__ import annotations

from dataclasses import dataclass

from semiseg.data.dataset import TrainingWindows, WindowSource
from semiseg.data.normalization import BandStats, compute_band_stats
from semiseg.data.sampling import LabeledPixelIndex
from semiseg.data.split import split_blocks
from semiseg.io.rasters import RasterInfo
from semiseg.pipeline.prepare import PreparedDomain
from semiseg.jobs.spec import TrainSpec
from semiseg.models.package import ModelCard
from semiseg.train.methods.base import DomainInfo
from semiseg.train.forest import ForestData
from semiseg.train.methods.pixel_forest import PixelForestParams
from semiseg.train.validation import BlockValidator


@dataclass
class DomainData:
    prepared: PreparedDomain
    stats: BandStats
    index: LabeledPixelIndex
    windows: TrainingWindows
    validator: BlockValidator
    train: TrainSpec  # the job's training settings (seed, class balance, window)

    @property
    def info(self) -> DomainInfo:
        return DomainInfo(self.prepared.name, self.prepared.spec.class_names, len(self.prepared.bands))

    def forest_data(self, params: PixelForestParams) -> ForestData:
        """What a pixel forest of this domain learns from: the training labels, validation blocks hidden."""
        t = self.train
        return ForestData(self.prepared.labeled, self.windows.source.label_maps, self.prepared.bands, self.stats, len(self.info.class_names), params, t.class_balanced, t.seed)

    def card(self, arch: str, encoder: str, tile_size: int, method: dict, metrics: dict, fingerprint: str) -> ModelCard:
        """model.json of a model trained on this domain."""
        return ModelCard(
            class_names=self.prepared.spec.class_names,
            class_colors=self.prepared.spec.class_colors,
            bands=self.prepared.bands,
            mean=self.stats.mean,
            std=self.stats.std,
            arch=arch,
            encoder=encoder,
            in_channels=len(self.prepared.bands),
            tile_size=tile_size,
            method=method,
            metrics={k: v for k, v in metrics.items() if k != "confusion"},
            fingerprint=fingerprint,
            domain=self.prepared.name,
            pixel_size_m=pixel_size_m(self.prepared.labeled[0]),
        )


def pixel_size_m(raster: RasterInfo) -> float | None:
    """A pixel's side on the ground in metres (the mean of its two sides), in a projected CRS only."""
    if not raster.georeferenced or raster.crs is None or not raster.crs.is_projected:
        return None
    _, factor = raster.crs.linear_units_factor
    t = raster.transform
    return round(float(((t.a**2 + t.d**2) ** 0.5 + (t.b**2 + t.e**2) ** 0.5) / 2 * factor), 6)


def build_domain_data(
    domain: PreparedDomain, stream: int, t: TrainSpec, samples: int, with_unlabeled: bool, stats: BandStats | None = None
) -> DomainData:
    """`stream` keeps the random windows of several domains independent (0 for the first).

    `stats`: the band normalization to use (a starting model's, which its weights expect);
    computed from the rasters when None.
    """
    num_classes = len(domain.spec.classes)
    train_maps, val_blocks = split_blocks(domain.label_maps, max(32, t.tile_size // 2), t.val_fraction, t.seed + stream)
    if stats is None:
        stats = compute_band_stats(domain.pool, domain.bands, t.seed)
    index = LabeledPixelIndex(train_maps, num_classes, t.seed, t.class_balanced)
    window_pool = domain.unlabeled if t.unlabeled_windows == "unlabeled_rasters" else domain.pool
    source = WindowSource(domain.labeled, train_maps, window_pool, domain.bands, stats, t.tile_size)
    windows = TrainingWindows(source, index, t.seed, samples, t.unlabeled_per_labeled if with_unlabeled else 0, stream)
    validator = BlockValidator(val_blocks, domain.labeled, domain.label_maps, domain.bands, stats, t.tile_size, num_classes)
    return DomainData(domain, stats, index, windows, validator, t)
