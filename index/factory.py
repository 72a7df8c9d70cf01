"""One index per algorithm: the right kind for its hashes, built, or loaded from a snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index import snapshot
from index.exact import ExactIndex
from index.hamming import HammingIndex
from index.hashes import Algorithm
from index.segments import Codes, Ids


def new_index(algorithm: Algorithm, **options: Any) -> HammingIndex:
    """An empty index for ``algorithm``: exact for MD5/SHA-1, Hamming for the rest."""
    cls = ExactIndex if algorithm.is_exact else HammingIndex
    return cls(algorithm.bits, algorithm=str(algorithm), **options)


def build_index(algorithm: Algorithm, ids: Ids, codes: Codes, **options: Any) -> HammingIndex:
    """An index over many entries at once (the structure is chosen by size)."""
    cls = ExactIndex if algorithm.is_exact else HammingIndex
    return cls.build(algorithm.bits, ids, codes, algorithm=str(algorithm), **options)


def load_index(
    path: Path | str, *, algorithm: Algorithm | None = None, verify: bool = True, mmap: bool = True
) -> HammingIndex:
    """The index in a snapshot, of whichever kind it holds. Raises ``snapshot.SnapshotError``."""
    kind = snapshot.read_sidecar(path).get("index")
    cls = {ExactIndex.kind: ExactIndex, HammingIndex.kind: HammingIndex}.get(str(kind))
    if cls is None:
        raise snapshot.SnapshotError(f"snapshot {path} holds an unknown index kind {kind!r}")
    return cls.load(path, verify=verify, mmap=mmap, algorithm=str(algorithm) if algorithm else None)
