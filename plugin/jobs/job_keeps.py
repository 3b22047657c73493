"""What Resume needs and what a job keeps on disk, in a sentence for the Jobs list.

A cancelled training keeps its checkpoint (weights and optimizer state: hundreds of MB for a
network) and Resume needs exactly that file; a completed job keeps only its model package and
maps (the engine deletes the checkpoint). Users asked why a job folder is 219 MB, and whether
they may delete it (issue 41, item 15); the engine's own rules, read from the folder, answer.
"""
import json
from pathlib import Path

from .job import QUICK_METHOD
from .job_registry import disk_use, format_size
from .jobdir import MODEL_FILE, JobDir


def _size(path: Path) -> str:
    return format_size(path.stat().st_size if path.is_file() else disk_use(path))


def _method(folder: JobDir) -> str:
    try:
        return json.loads(folder.spec.read_text()).get("method", {}).get("name", "")
    except (OSError, ValueError, AttributeError):
        return ""


def resume_note(job_dir: Path, status: str) -> tuple:
    """(whether Resume can continue `job_dir`, what it needs or what the job keeps); status: its JobState's."""
    folder = JobDir(Path(job_dir))
    if folder.is_prediction_run:
        if status == "completed":
            return False, f"A prediction run: its maps ({format_size(disk_use(folder.root))}) stay in {folder.root}."
        return False, "A prediction run keeps no checkpoint: predict again to redo it."
    where = lambda p: p.relative_to(folder.root).as_posix()  # noqa: E731  # a path as the folder names it
    if status == "completed":
        parts = [f"Completed: keeps {where(folder.model)}/ ({_size(folder.model)}), which Predict and Train again "
                 "start from"]
        if folder.outputs.is_dir():
            parts.append(f"and its maps in {where(folder.outputs)}/ ({_size(folder.outputs)})")
        return False, " ".join(parts) + "; its checkpoint is deleted, so there is nothing to resume."
    if status not in ("cancelled", "interrupted"):
        return False, ""
    if folder.last_checkpoint.is_file():
        return True, (f"Resume continues from {where(folder.last_checkpoint)} ({_size(folder.last_checkpoint)}: the "
                      f"weights and optimizer state); the job folder holds {format_size(disk_use(folder.root))} "
                      "until it completes or is deleted.")
    if _method(folder) == QUICK_METHOD:
        return True, "Resume fits the Quick map's forest again (it keeps no checkpoint: it fits in minutes) and maps the raster."
    if (folder.forest_model / MODEL_FILE).is_file():
        return True, (f"Resume starts the training from step 0 with the forest it already fitted "
                      f"({where(folder.forest)}/, {_size(folder.forest)}): it stopped before its first checkpoint.")
    return False, "Nothing to resume: it stopped before its first checkpoint. Start it again with Train."
