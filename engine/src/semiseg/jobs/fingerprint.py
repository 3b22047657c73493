"""A fingerprint of a job's training inputs: resuming with changed inputs is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from semiseg.jobs.spec import JobSpec


def fingerprint(spec: JobSpec) -> str:
    """Hash of the training-relevant spec and of each input file's size and modification time."""
    relevant = spec.model_dump(mode="json", include={"classes", "labeled", "unlabeled", "bands", "method", "model", "train"})
    files = [src.raster for src in spec.labeled] + [src.labels for src in spec.labeled] + list(spec.unlabeled)
    stats = []
    for path in files:
        st = Path(path).stat()
        stats.append([str(path), st.st_size, st.st_mtime_ns])
    blob = json.dumps([relevant, stats], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
