"""Job directories and prediction runs started in a project, remembered in that project.

When the project is opened again (after a QGIS restart too) the dock lists them again; each
job's events.jsonl says where it stands. Another project lists only its own: the jobs of one
area are no jobs of another (a profile-wide list showed a desert city's jobs in a seismic project).
"""
import os
from pathlib import Path

from qgis.core import QgsProject

from .jobdir import JobDir


def remember(job_dir: Path, project: QgsProject) -> None:
    job = str(job_dir)
    jobs, _ = project.readListEntry("semiseg", "jobs", [])
    project.writeEntry("semiseg", "jobs", [j for j in jobs if j != job] + [job])


def known_jobs(project: QgsProject) -> list:
    """The project's jobs still on disk, newest last."""
    jobs, _ = project.readListEntry("semiseg", "jobs", [])
    seen, result = set(), []
    for job in jobs:
        if job not in seen and _started(Path(job)) is not None:
            seen.add(job)
            result.append(Path(job))
    return sorted(result, key=lambda p: _started(p) or 0.0)


def _started(folder: Path):
    """When a job was written (its job.json), or a prediction run last reported; None: gone."""
    for path in (JobDir(folder).spec, JobDir(folder).events):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return None


def disk_use(job_dir: Path) -> int:
    """Bytes under a job directory: a cancelled job keeps its checkpoint (the optimizer state too)."""
    total = 0
    for folder, _, files in os.walk(job_dir):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we count (the engine replaces files as it runs)
                pass
    return total


def format_size(size: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
