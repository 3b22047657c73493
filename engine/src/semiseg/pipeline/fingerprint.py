"""A fingerprint of a job's training inputs: resuming with changed inputs (or another engine version,
whose checkpoints may be laid out differently) is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from semiseg import __version__
from semiseg.jobs.spec import JobSpec
from semiseg.models.package import weights_file


def fingerprint(spec: JobSpec) -> str:
    """Hash of the engine version, the training-relevant spec and each input file's size and modification time."""
    relevant = spec.model_dump(mode="json", include={"domains", "method", "model", "train"})
    for domain in relevant["domains"]:
        domain.pop("predict")  # what to predict afterwards does not change training
    files = [p for d in spec.domains for src in d.labeled for p in (src.raster, src.labels)]
    files += [getattr(p, "segy", p) for d in spec.domains for p in d.unlabeled]  # a volume, not its sections
    if spec.model.init_from is not None:  # its weights and its normalization (model.json)
        files += [weights_file(spec.model.init_from), spec.model.init_from / "model.json"]
    stats = []
    for path in files:
        st = Path(path).stat()
        stats.append([str(path), st.st_size, st.st_mtime_ns])
    blob = json.dumps([__version__, relevant, stats], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
