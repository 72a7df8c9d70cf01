"""A rescan's checkpoint: how far through the source it got, and the counts up to there.

A JSON file replaced atomically (write, fsync, rename), so a run killed at any instant leaves
either the previous checkpoint or the new one. Items after the position may have been recorded
already when the run died; rescans record a (customer, URL, content) once, so redoing them is safe.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


@dataclass
class Checkpoint:
    fingerprint: str
    # Items [0, position) are done.
    position: int = 0
    counts: dict[str, Any] = field(default_factory=dict)


def load(path: Path, fingerprint: str) -> Checkpoint | None:
    """The checkpoint at ``path`` if there is one for this very source."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("fingerprint") != fingerprint:
        return None
    return Checkpoint(fingerprint, int(data.get("position", 0)), dict(data.get("counts", {})))


def save(path: Path, checkpoint: Checkpoint) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": VERSION,
        "fingerprint": checkpoint.fingerprint,
        "position": checkpoint.position,
        "counts": checkpoint.counts,
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear(path: Path) -> None:
    path.unlink(missing_ok=True)
