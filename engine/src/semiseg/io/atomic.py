"""Write files and folders under a temporary name and rename them when complete.

A cancelled or crashed job must never leave a half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import errno
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


def write_failure(path: Path, exc: BaseException) -> UserError | None:
    """The user's problem behind a failed write (a full or read-only disk, no permission), naming
    the file meant to be written; None for anything else (an engine bug). GDAL's errors carry
    the cause in their text only."""
    code = getattr(exc, "errno", None)
    if code not in _REASONS:
        text = f"{exc} {exc.__cause__ or ''}"
        code = next((c for c, marker in ((errno.ENOSPC, "No space left"), (errno.EDQUOT, "quota"), (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")) if marker in text), None)
    return UserError(f"{path}: cannot be written: {_REASONS[code]}") if code in _REASONS else None


def _temporary_sibling(path: Path) -> Path:
    # Same folder (so the rename is atomic), same suffix (so GDAL picks the right driver).
    return path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:8]}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to `path` only if the block succeeds."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    tmp = _temporary_sibling(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    finally:
        if tmp.exists():
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
    tmp = final.with_name(f".{final.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
