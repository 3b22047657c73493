"""Self-supervised auxiliary losses (BerundaNet's unsupervised head, S6's reconstruction).

Every loss averages over valid (not nodata) pixels, so lambda does not depend on tile size.
"""

from __future__ import annotations

import itertools

import torch

from semiseg.train.methods.losses import masked_mean


def reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, valid: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over valid pixels and bands of |x - x_hat| (l1) or (x - x_hat)^2 (l2)."""
    diff = (x_hat.float() - x.float()).abs()
    per_pixel = (diff if kind == "l1" else diff.pow(2)).mean(1)
    return masked_mean(per_pixel, valid)


def _centroids(x: torch.Tensor, m: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per image, per cluster, per band: sum_i x_i m_ik / sum_i m_ik over valid pixels -> (B,K,C)."""
    w = m * valid[:, None]
    return torch.einsum("bkhw,bchw->bkc", w, x) / w.sum((2, 3))[..., None].clamp_min(1e-6)


def relaxed_kmeans_loss(x: torch.Tensor, m: torch.Tensor, valid: torch.Tensor, alpha: float) -> torch.Tensor:
    """L1(x, sum_k c_k m_k) + alpha * mean over pixels of sum_k m_k (1 - m_k).

    `m` are soft memberships (B,K,H,W), summing to 1 over K. The second term, normalised per
    pixel (it lies in [0, 1 - 1/K]), pushes memberships towards hard assignments.
    """
    x, m = x.float(), m.float()
    c = _centroids(x, m, valid)
    quantised = torch.einsum("bkc,bkhw->bchw", c, m)
    fit = masked_mean((x - quantised).abs().mean(1), valid)
    hardness = masked_mean((m * (1 - m)).sum(1), valid)
    return fit + alpha * hardness


def mumford_shah_loss(x: torch.Tensor, m: torch.Tensor, valid: torch.Tensor, alpha: float) -> torch.Tensor:
    """Piecewise-constant Mumford-Shah: sum_n (x - c_n)^2 m_n + alpha * TV(m), both as pixel means.

    The fit term is averaged over pixels and bands, TV is the mean L1 difference of m between
    vertical and horizontal neighbours summed over clusters; the reference sums instead. Only
    pairs of valid pixels count: memberships on nodata carry no image to be smooth about.
    """
    x, m = x.float(), m.float()
    c = _centroids(x, m, valid)  # (B,K,C)
    sq = (x[:, None] - c[..., None, None]).pow(2).mean(2)  # (B,K,H,W), mean over bands
    fit = masked_mean((sq * m).sum(1), valid)
    vertical = masked_mean((m[:, :, 1:, :] - m[:, :, :-1, :]).abs().sum(1), valid[:, 1:, :] & valid[:, :-1, :])
    horizontal = masked_mean((m[:, :, :, 1:] - m[:, :, :, :-1]).abs().sum(1), valid[:, :, 1:] & valid[:, :, :-1])
    return fit + alpha * (vertical + horizontal)


def square_masks(batch: int, height: int, width: int, side: int, gen: torch.Generator) -> torch.Tensor:
    """One side x side hole per image at a random position -> (B,H,W) bool."""
    top = (torch.rand(batch, generator=gen, device=gen.device) * (height - side + 1)).long()
    left = (torch.rand(batch, generator=gen, device=gen.device) * (width - side + 1)).long()
    rows = torch.arange(height, device=gen.device)[None, :, None]
    cols = torch.arange(width, device=gen.device)[None, None, :]
    return (rows >= top[:, None, None]) & (rows < (top + side)[:, None, None]) & (cols >= left[:, None, None]) & (cols < (left + side)[:, None, None])


def fill_holes(x: torch.Tensor, holes: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Replace the holes by each image's per-band mean over its valid pixels (the context encoder's fill)."""
    w = valid[:, None].to(x.dtype)
    mean = (x * w).sum((2, 3), keepdim=True) / w.sum((2, 3), keepdim=True).clamp_min(1)
    h = holes[:, None].to(x.dtype)
    return x * (1 - h) + mean * h


def inpainting_loss(x: torch.Tensor, x_hat: torch.Tensor, holes: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """L2 between the image and its reconstruction inside the holes only."""
    return reconstruction_loss(x, x_hat, holes & valid, "l2")


def max_hamming_permutations(count: int, pieces: int = 9, seed: int = 0) -> torch.Tensor:
    """`count` permutations of `pieces`, greedily chosen to be far apart in Hamming distance.

    Starts from one random permutation and repeatedly adds the candidate whose mean Hamming
    distance to those already chosen is largest (first on ties), so the jigsaw classes are
    as distinguishable as the greedy algorithm can make them. Fixed `seed`: the set is a
    function of `count` alone, the same in every run.
    """
    every = torch.tensor(list(itertools.permutations(range(pieces))), dtype=torch.int8)
    if count > len(every):
        raise ValueError(f"only {len(every)} permutations of {pieces} pieces exist")
    first = int(torch.randint(len(every), (1,), generator=torch.Generator().manual_seed(seed)))
    chosen = [first]
    total = (every != every[first]).sum(1, dtype=torch.int64)
    total[first] = -1
    while len(chosen) < count:
        nxt = int(torch.argmax(total))
        chosen.append(nxt)
        total += (every != every[nxt]).sum(1, dtype=torch.int64)
        total[chosen] = -1
    return every[chosen].long()


def jigsaw_shuffle(x: torch.Tensor, permutations: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each image's central 3p x 3p square (p = side // 3) into 3x3 patches and reorder them.

    Returns the shuffled squares (B,C,3p,3p) and the index of the permutation used per image.
    Patch slot j of the output holds input patch perm[j].
    """
    b, c, h, w = x.shape
    p = min(h, w) // 3
    top, left = (h - 3 * p) // 2, (w - 3 * p) // 2
    square = x[:, :, top : top + 3 * p, left : left + 3 * p]
    patches = square.reshape(b, c, 3, p, 3, p).permute(0, 2, 4, 1, 3, 5).reshape(b, 9, c, p, p)
    target = torch.randint(len(permutations), (b,), generator=gen, device=gen.device)
    order = permutations.to(x.device)[target]
    shuffled = torch.gather(patches, 1, order[:, :, None, None, None].expand_as(patches))
    shuffled = shuffled.reshape(b, 3, 3, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, 3 * p, 3 * p)
    return shuffled, target
