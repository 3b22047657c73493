"""Data-loading workers die with the engine, however it ends.

A worker is a child process; when the engine is killed outright (kill -9, the OOM killer) no
Python code runs to stop it, and an orphaned worker would keep its memory and open rasters.
On Linux the kernel delivers SIGKILL to the worker when its parent dies (PR_SET_PDEATHSIG);
elsewhere the worker checks at start that its parent is still there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn`: tie the worker's life to the engine's."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent or parent == 1:  # the engine died before the request took effect
        os._exit(1)
