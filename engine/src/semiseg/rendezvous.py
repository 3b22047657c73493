"""Several processes on one machine meet through a file, not a port (training and prediction alike).

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

RENDEZVOUS_ENV = "SEMISEG_DDP_RENDEZVOUS"


def single_node_rendezvous(folder: Path) -> Path:
    """The rendezvous file of this run in `folder` (a job directory, a prediction's output folder),
    chosen by the main process and inherited by the processes Lightning launches (they see it in
    their environment)."""
    if RENDEZVOUS_ENV not in os.environ:
        for stale in folder.glob(".ddp-rendezvous-*"):  # a killed run's; the job lock (or the predict parts) say no other runs
            stale.unlink(missing_ok=True)
        os.environ[RENDEZVOUS_ENV] = str(folder.resolve() / f".ddp-rendezvous-{os.getpid()}")
        if sys.platform.startswith("linux"):  # gloo and NCCL pick an interface from the host name otherwise
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
            os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
    return Path(os.environ[RENDEZVOUS_ENV])


def started_by_a_launcher() -> bool:
    """torchrun or SLURM's srun started the processes: each was started on its own, so they meet
    as that tool says (env://), not through a file named after one of them."""
    started = "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1
    return started and RENDEZVOUS_ENV not in os.environ
