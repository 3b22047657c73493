"""Lightning's DDP for training on one machine, meeting through a file (semiseg/rendezvous.py says why)."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.strategies import DDPStrategy


class SingleNodeDDP(DDPStrategy):
    """DDP whose processes rendezvous through `rendezvous` (a file) instead of a TCP store."""

    def __init__(self, rendezvous: Path, **kwargs):
        super().__init__(**kwargs)
        self.rendezvous = rendezvous

    def setup_distributed(self) -> None:
        self.set_world_ranks()
        torch.distributed.init_process_group(
            self._get_process_group_backend(), init_method=self.rendezvous.as_uri(),
            rank=self.global_rank, world_size=self.world_size, timeout=self._timeout,
        )
        super().setup_distributed()  # Lightning's own set-up finds the group initialised and keeps it

    def teardown(self) -> None:
        super().teardown()
        if self.global_rank == 0:  # every process has passed the end of training
            self.rendezvous.unlink(missing_ok=True)
