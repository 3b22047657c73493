"""Several training processes on one machine meet through a file in the job directory, not a port.

torch's default rendezvous (`env://`) starts a TCP store on the main process that listens on
every network interface, whatever MASTER_ADDR says: a `--devices 2` run on a laptop would open
a port to its whole network. On one machine the processes share a disk, so they rendezvous
through a FileStore instead, and the collective backends (gloo, NCCL) are kept on the loopback
interface. A run over several nodes needs the network: it keeps `env://` (docs/job-spec.md says
which ports it opens).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from lightning.pytorch.strategies import DDPStrategy

RENDEZVOUS_ENV = "SEMISEG_DDP_RENDEZVOUS"


def single_node_rendezvous(job_root: Path) -> Path:
    """The rendezvous file of this run, chosen by the main process and inherited by the processes
    Lightning launches (they see it in their environment)."""
    if RENDEZVOUS_ENV not in os.environ:
        for stale in job_root.glob(".ddp-rendezvous-*"):  # a killed run's; the job lock says no other runs
            stale.unlink(missing_ok=True)
        os.environ[RENDEZVOUS_ENV] = str(job_root.resolve() / f".ddp-rendezvous-{os.getpid()}")
        if sys.platform.startswith("linux"):  # gloo and NCCL pick an interface from the host name otherwise
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
            os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
    return Path(os.environ[RENDEZVOUS_ENV])


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
