"""One engine at a time in a job directory: an exclusive lock on JOB_DIR/engine.lock.

Two engines in one job would interleave their events, checkpoints and model. The lock is an
operating-system file lock held by the open file: it goes with the process however that ends
(kill -9 included), so a stale lock file never blocks the next run. The file keeps the pid of
the engine that holds it, for the message that refuses a second one.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from semiseg.errors import UserError
from semiseg.io.atomic import write_failure

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False


@contextlib.contextmanager
def job_lock(path: Path) -> Iterator[None]:
    """Hold the lock at `path` while the block runs; a UserError naming the holder if it is taken."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"{path.parent}: cannot write to the job directory ({exc.strerror or exc})") from None
    try:
        if not _try_lock(fd):
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
            except OSError:  # Windows: the holder's locked byte cannot be read
                holder = ""
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise UserError(f"{path.parent}: an engine ({who}) is already running this job; wait for it to end or cancel it")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as exc:  # a full disk: the job could write nothing either
            raise (write_failure(path.parent, exc) or exc) from None
        yield
    finally:
        os.close(fd)
