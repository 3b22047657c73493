"""A prediction cut into blocks that are predicted, written and resumed one by one.

The output is cut into square blocks (BLOCK_SIZE pixels a side, a multiple of the outputs' 256-px
internal tiles), listed in reading order in a manifest. A block is predicted from every window of
the whole raster's grid that touches it (its halo recomputed, tiling.TileGrid.covering), in the
same order, so its pixels blend as in one pass over the whole raster and the map does not depend
on how many processes share the blocks. Each block is written as its own files in
`<stem>.parts/` beside the outputs: a folder per block, written under a temporary name and renamed
when complete, so a folder under its final name is a finished block and nothing else is. A rerun of the same prediction (same raster, model and
settings: the manifest's key) after a crash or a kill keeps the finished blocks and predicts the
rest; another prediction into the same folder starts over. When every block is done, one process
assembles the outputs from the parts (predict/raster.py) and removes the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from rasterio.windows import Window

import semiseg
from semiseg.io.atomic import atomic_directory, write_text_atomic

BLOCK_SIZE = 2048  # pixels a side: a few blocks per core on a 4096-px raster, the halo ~27 % of a block's windows
OUTPUT_TILE = 256  # the outputs' internal tiles (a COG's BLOCKSIZE): blocks never split one
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Block:
    """Rows [row, row + height) and columns [col, col + width) of the output."""

    index: int
    row: int
    col: int
    height: int
    width: int

    @property
    def window(self) -> Window:
        return Window(self.col, self.row, self.width, self.height)


def plan_blocks(height: int, width: int, size: int = BLOCK_SIZE) -> list[Block]:
    """The blocks of a `height` x `width` output, in reading order (the manifest's order)."""
    if size <= 0 or size % OUTPUT_TILE:
        raise ValueError(f"block size {size}: must be a positive multiple of {OUTPUT_TILE}")
    cells = [(r, c) for r in range(0, height, size) for c in range(0, width, size)]
    return [Block(i, r, c, min(size, height - r), min(size, width - c)) for i, (r, c) in enumerate(cells)]


def predictor_identity(predictor) -> str:
    """What the model computes: `predictor.identity` (the digest of the files it was loaded from),
    else the digest of its weights; with its batch size, precision, symmetries, memory layout and
    runtime, which change the floats of a map."""
    digest = hashlib.sha256()
    if getattr(predictor, "identity", None):
        digest.update(predictor.identity.encode())
    else:
        for model in (predictor.model, predictor.second):
            for name, tensor in ({} if model is None else model.state_dict()).items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    digest.update(json.dumps([predictor.batch_size, bool(predictor.autocast), len(predictor.symmetries), predictor.second is not None,
                              bool(getattr(predictor, "channels_last", False)), getattr(predictor, "runtime", "torch")]).encode())
    return digest.hexdigest()


def files_digest(path: Path) -> str:
    """The sha256 of a model file, or of a package folder's files (names and contents)."""
    digest = hashlib.sha256()
    files = [Path(path)] if Path(path).is_file() else sorted(p for p in Path(path).rglob("*") if p.is_file())
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


class PredictionParts:
    """The `<stem>.parts/` folder of one raster's prediction: its manifest and finished blocks."""

    def __init__(self, out_dir: Path, stem: str, blocks: list[Block], key: dict):
        self.folder = Path(out_dir) / f"{stem}.parts"
        self.blocks = blocks
        self.key = {"version": MANIFEST_VERSION, "engine": semiseg.__version__, **key}

    @property
    def manifest(self) -> Path:
        return self.folder / "manifest.json"

    def prepare(self) -> int:
        """Keep the finished blocks of the same prediction, or start over; the number kept.
        Run by one process before the others look for finished blocks."""
        try:
            same = json.loads(self.manifest.read_text(encoding="utf-8")).get("key") == self.key
        except (OSError, ValueError):
            same = False
        if not same:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            blocks = [[b.row, b.col, b.height, b.width] for b in self.blocks]
            write_text_atomic(self.manifest, json.dumps({"key": self.key, "blocks": blocks}, indent=1))
        return sum(self.is_done(b) for b in self.blocks)

    def block_folder(self, block: Block) -> Path:
        """The finished block's files; the folder appears whole (renamed from a temporary one)
        or not at all, so its presence is the proof of a finished block."""
        return self.folder / f"block{block.index:06d}"

    def is_done(self, block: Block) -> bool:
        return self.block_folder(block).is_dir()

    @contextlib.contextmanager
    def writing(self, block: Block) -> Iterator[Path]:
        """A temporary folder to write the block's files in, renamed to its final name when complete."""
        with atomic_directory(self.block_folder(block)) as tmp:
            yield tmp

    def path(self, block: Block, kind: str, suffix: str = ".tif", folder: Path | None = None) -> Path:
        """A file of the block: in its final folder, or in the `folder` being written."""
        return (folder or self.block_folder(block)) / f"{kind}{suffix}"

    @staticmethod
    def save_tally(folder: Path, arrays: dict[str, np.ndarray]) -> None:
        """A block's suggestion tallies (plain arrays, read back without pickle)."""
        with open(folder / "doubt.npz", "wb") as f:
            np.savez(f, **arrays)

    def load_tally(self, block: Block) -> dict[str, np.ndarray]:
        with np.load(self.path(block, "doubt", ".npz"), allow_pickle=False) as data:
            return {name: data[name] for name in data.files}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
