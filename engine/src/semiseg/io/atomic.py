"""Write files and folders under a temporary name and rename them when complete.

A cancelled or crashed job must never leave a half-written file under its final name. A killed
one (kill -9, a power cut) cannot remove its temporary files itself: their names carry the
writer's pid, and the next write of the same final name removes those whose writer is gone.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from semiseg.errors import UserError

_REASONS = {
    errno.ENOSPC: "no space left on its disk; free some and run again",
    errno.EDQUOT: "the disk quota is used up; free some and run again",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the disk is read-only; choose another folder",
}


# Less free space than this beside a failed write: the disk is full, whatever the writer says.
FULL_DISK_BYTES = 1 << 20


def write_failure(path: Path, exc: BaseException) -> UserError | None:
    """The user's problem behind a failed write (a full or read-only disk, no permission), naming
    the file meant to be written; None for anything else (an engine bug). GDAL's errors carry
    the cause in their text only, and from a full disk often not even there ("IO error writing
    tag data"): a failed write of GDAL's, or an OSError without a known cause, on a disk with
    next to no free space is that disk being full."""
    code = exc.errno if isinstance(exc, OSError) else None  # GDAL's errors have an `errno` too: CPL's numbers (1: AppDefined, not EPERM)
    if code not in _REASONS:
        text = f"{exc} {exc.__cause__ or ''}"
        code = next((c for c, marker in ((errno.ENOSPC, "No space left"), (errno.EDQUOT, "quota"), (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")) if marker in text), None)
    if code not in _REASONS and _is_io_error(exc) and _free_bytes(Path(path)) < FULL_DISK_BYTES:
        code = errno.ENOSPC
    return UserError(f"{path}: cannot be written: {_REASONS[code]}") if code in _REASONS else None


# What torch.save's C++ writer says when its stream fails (it raises a RuntimeError, no errno).
_TORCH_WRITE_FAILURES = ("iostream error", "inline_container", "PytorchStreamWriter", "file write failed")


def _is_io_error(exc: BaseException) -> bool:
    """A failed write whose cause is not said: an I/O error, GDAL's or torch.save's."""
    if isinstance(exc, OSError):
        return exc.errno in (None, errno.EIO)  # not a missing folder or a file where a folder should be
    if type(exc).__module__.split(".")[0] == "rasterio":  # GDAL's CPLE_* and rasterio's own
        return True
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    return isinstance(exc, RuntimeError) and any(marker in text for marker in _TORCH_WRITE_FAILURES)


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk of `path` (of its nearest existing folder); large when unknown."""
    for folder in (path, *path.parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return 1 << 62


def _temporary_sibling(path: Path, kind: str = "partial", keep_suffix: bool = True) -> Path:
    # Same folder (so the rename is atomic), same suffix (so GDAL picks the right driver).
    stem, suffix = (path.stem, path.suffix) if keep_suffix else (path.name, "")
    return path.with_name(f".{stem}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def _writer_is_gone(pid: str) -> bool:
    if not pid.isdigit():
        return True  # a name from before pids were recorded: its writer is long gone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def remove_stale_temporaries(path: Path) -> None:
    """Remove what killed writers of `path` left beside it (GDAL's and SQLite's side files too)."""
    for stem in {path.stem, path.name}:
        for kind in ("partial", "old"):
            for leftover in path.parent.glob(f".{glob.escape(stem)}.{kind}-*"):
                pid = leftover.name[len(f".{stem}.{kind}-"):].split("-", 1)[0]
                if _writer_is_gone(pid):
                    with contextlib.suppress(OSError):
                        shutil.rmtree(leftover) if leftover.is_dir() and not leftover.is_symlink() else leftover.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to `path` only if the block succeeds."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    remove_stale_temporaries(final)
    tmp = _temporary_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except Exception as exc:  # GDAL's errors too: a full disk is the user's to fix
        failure = write_failure(final, exc)
        if failure is None:
            raise
        raise failure from None
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def scratch_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of `path` for an intermediate file, removed when the block ends; named
    like atomic_path's, so one a killed writer left behind is removed by the next write of `path`."""
    tmp = _temporary_sibling(Path(path))
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def permit_like_any_output(path: Path) -> None:
    """Give a file the mode the user's umask gives new files; for writers that create theirs
    private (safetensors writes 0600, which keeps other users of a shared model folder out)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; it replaces `path` (and any old content) when complete."""
    final = Path(path)
    tmp = _temporary_sibling(final, keep_suffix=False)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final)
        tmp.mkdir()
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    try:
        yield tmp
        old = None
        if final.exists():
            old = _temporary_sibling(final, "old", keep_suffix=False)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except Exception as exc:
        failure = write_failure(final, exc)
        if failure is None:
            raise
        raise failure from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
