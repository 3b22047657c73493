"""Weight sharing between networks of several domains.

Each domain keeps a plain smp network (so its model package rebuilds it from model.json
alone), but every layer whose shape does not depend on the domain is the same module object
in all of them: the encoder and decoder are shared, the segmentation head (class count) and,
when band counts differ, the input stem are the domain's own.
"""

from __future__ import annotations

import torch.nn as nn


def _same_shapes(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return type(a) is type(b) and sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)


def share_layers(reference: nn.Module, other: nn.Module, only: tuple[str, ...] | None = None, prefix: str = "") -> list[str]:
    """Make `other` use `reference`'s sub-modules wherever their shapes agree (largest first).

    `only` limits this to some top-level children (e.g. never the segmentation head, which
    may agree in shape across domains yet means other classes). Returns the names of the
    parameterised leaves that stay `other`'s own.
    """
    own = []
    for name, child in list(other.named_children()):
        if only is not None and name not in only:
            continue
        ref = getattr(reference, name, None)
        if isinstance(ref, nn.Module) and _same_shapes(ref, child):
            setattr(other, name, ref)
        elif any(True for _ in child.children()) and isinstance(ref, nn.Module):
            own += share_layers(ref, child, prefix=f"{prefix}{name}.")
        elif any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
            own.append(prefix + name)
    return own
