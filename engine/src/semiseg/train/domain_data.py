"""Everything training needs from one domain: held-out blocks, band statistics, windows, validator."""

from __future__ import annotations

from dataclasses import dataclass

from semiseg.data.dataset import TrainingWindows, WindowSource
from semiseg.data.normalization import BandStats, compute_band_stats
from semiseg.data.sampling import LabeledPixelIndex
from semiseg.data.split import split_blocks
from semiseg.jobs.prepare import PreparedDomain
from semiseg.jobs.spec import TrainSpec
from semiseg.train.methods.base import DomainInfo
from semiseg.train.validation import BlockValidator


@dataclass
class DomainData:
    prepared: PreparedDomain
    stats: BandStats
    index: LabeledPixelIndex
    windows: TrainingWindows
    validator: BlockValidator

    @property
    def info(self) -> DomainInfo:
        return DomainInfo(self.prepared.name, self.prepared.spec.class_names, len(self.prepared.bands))


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
    return DomainData(domain, stats, index, windows, validator)
