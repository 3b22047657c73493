"""Weight sharing between networks of several domains.

Each domain keeps a plain smp network (so its model package rebuilds it from model.json
alone), but layers whose shapes do not depend on the domain can be the same module object in
all of them (which ones is the method's choice: usss shares encoder and decoder, cct the
encoder only). Never shared: the segmentation head (class count), the input stem when band
counts differ, and BatchNorm layers. Each domain normalises with its own statistics: shared
BatchNorm would export running statistics averaged over every domain's images (aerial and
seismic, say), which match none of them at inference.
"""

from __future__ import annotations

import torch.nn as nn

NORMALISATION_WITH_STATISTICS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def domain_key(name: str) -> str:
    """Key of a domain in an nn.ModuleDict: prefixed, because a domain may be called e.g.
    "train" or "items", names nn.ModuleDict already has."""
    return "domain_" + name


def _same_shapes(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return type(a) is type(b) and sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def _has_statistics(module: nn.Module) -> bool:
    return any(isinstance(m, NORMALISATION_WITH_STATISTICS) for m in module.modules())


def share_layers(reference: nn.Module, other: nn.Module, only: tuple[str, ...] | None = None) -> None:
    """Make `other` use `reference`'s sub-modules wherever their shapes agree (largest first),
    except normalisation layers with running statistics.

    `only` limits this to some top-level children (e.g. never the segmentation head, which
    may agree in shape across domains yet means other classes).
    """
    for name, child in list(other.named_children()):
        if only is not None and name not in only:
            continue
        ref = getattr(reference, name, None)
        if isinstance(ref, nn.Module) and _same_shapes(ref, child) and not _has_statistics(child):
            setattr(other, name, ref)
        elif any(True for _ in child.children()) and isinstance(ref, nn.Module):
            share_layers(ref, child)
