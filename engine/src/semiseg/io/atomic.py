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


def write_failure(path: Path, exc: BaseException) -> UserError | None:
    """The user's problem behind a failed write (a full or read-only disk, no permission), naming
    the file meant to be written; None for anything else (an engine bug). GDAL's errors carry
    the cause in their text only."""
    code = getattr(exc, "errno", None)
    if code not in _REASONS:
        text = f"{exc} {exc.__cause__ or ''}"
        code = next((c for c, marker in ((errno.ENOSPC, "No space left"), (errno.EDQUOT, "quota"), (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")) if marker in text), None)
    return UserError(f"{path}: cannot be written: {_REASONS[code]}") if code in _REASONS else None


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
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
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
    except OSError as exc:
        raise (write_failure(final, exc) or exc) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
