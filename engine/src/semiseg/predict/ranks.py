"""The processes of one prediction: Lightning Fabric launches them as it launches training's.

`--devices N` starts N processes on this machine (they meet through a file, semiseg/rendezvous.py);
under torchrun or SLURM's `srun` the processes are already there and Fabric reads their ranks from
the environment, as training's Trainer does. The processes share nothing but the output folder:
each predicts its own blocks (predict/parts.py), and the only collective operations are the two
barriers around them (shards are uneven; nothing waits inside the loop).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import torch

from semiseg.devices import resolve_device
from semiseg.errors import UserError
from semiseg.rendezvous import single_node_rendezvous, started_by_a_launcher

T = TypeVar("T")

# How long a process may wait at a barrier for the slowest one: its blocks may take hours.
_BARRIER_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Ranks:
    """This process's place among those of one prediction (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    barrier: Callable[[], None] = field(default=lambda: None, compare=False)
    rendezvous: Path | None = None  # the file the processes of one machine met through

    def close(self) -> None:
        """After the last barrier: leave the process group; the main process removes the file."""
        if self.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        if self.is_main and self.rendezvous is not None:
            self.rendezvous.unlink(missing_ok=True)

    @property
    def is_main(self) -> bool:
        """The process that writes events, prints, and assembles the finished blocks."""
        return self.rank == 0

    def share(self, units: Sequence[T]) -> list[T]:
        """This process's units of a deterministic list, strided (0, N, 2N, ... for rank 0): each
        process gets near and far blocks alike, however the raster's cost is spread."""
        return list(units[self.rank :: self.world])


def launch_ranks(device: str, devices: int, num_nodes: int, out_dir: Path) -> Ranks:
    """One process (no launch) for `--devices 1 --num-nodes 1`; else Fabric's DDP processes, each
    returning here with its rank and its device (gloo on CPUs, NCCL on GPUs)."""
    if devices < 1 or num_nodes < 1:
        raise UserError(f"--devices {devices} --num-nodes {num_nodes}: both must be at least 1")
    if devices * num_nodes == 1:
        return Ranks(device=resolve_device(device))
    if device.startswith("cuda:"):
        raise UserError(f"--device {device} --devices {devices}: cuda:N names one GPU; use --device cuda --devices {devices} for several")
    accelerator = "gpu" if resolve_device(device).type == "cuda" else "cpu"
    from lightning.fabric import Fabric

    rendezvous = None if num_nodes > 1 or started_by_a_launcher() else single_node_rendezvous(Path(out_dir))
    fabric = Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=_strategy(rendezvous))
    fabric.launch()
    if accelerator == "cpu":  # the cores are shared among the processes of this node, not each given all of them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // devices))
    return Ranks(fabric.global_rank, fabric.world_size, fabric.device, fabric.barrier, rendezvous)


def _strategy(rendezvous: Path | None):
    """Fabric's DDP; on one machine (`rendezvous`, a file) without the TCP store of env://."""
    from lightning.fabric.strategies import DDPStrategy

    if rendezvous is None:  # env:// over the network, as training's multi-node runs
        return DDPStrategy(timeout=_BARRIER_TIMEOUT)

    class FileRendezvousDDP(DDPStrategy):
        """Fabric's DDP whose processes meet through a file in the output folder, not a TCP store."""

        def _setup_distributed(self) -> None:
            self._set_world_ranks()
            self._process_group_backend = self._get_process_group_backend()
            torch.distributed.init_process_group(self._process_group_backend, init_method=rendezvous.as_uri(),
                                                 rank=self.global_rank, world_size=self.world_size, timeout=self._timeout)

    return FileRendezvousDDP(timeout=_BARRIER_TIMEOUT)
