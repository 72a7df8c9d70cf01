"""One index per algorithm: the right kind for its hashes, built, or loaded from a snapshot."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

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


def warm_up() -> None:
    """Compile the search kernels before serving.

    numba compiles each kernel on first use, for each array layout it meets (snapshots are
    read-only maps, a separate variant): ~10 s in a fresh environment, well under a second once
    its on-disk cache (``__pycache__``, or ``NUMBA_CACHE_DIR``) holds them. A server calls this
    at start-up, before it reports ready, so no request pays for it."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as directory:
        for algorithm, n in ((Algorithm.PDQ, 20_000), (Algorithm.PHASH, 20_000), (Algorithm.MD5, 20_000)):
            codes = rng.integers(0, 256, (n, algorithm.bits // 8), dtype=np.uint8)
            index = build_index(algorithm, np.arange(n, dtype=np.int64), codes)
            index.add(np.array([-1], dtype=np.int64), codes[:1])
            path = Path(directory) / str(algorithm)
            index.save(path)
            for candidate in (index, load_index(path)):
                candidate.search(codes[:2], 8)
