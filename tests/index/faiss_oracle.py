"""The index tests' second oracle: FAISS's exhaustive binary index, the field's reference library.

``index.synthetic.brute_force`` is our own XOR + popcount; this one shares none of its code, so a
mistake the two could make alike (in how bits are counted, or where the threshold's edge is)
would have to be made by FAISS too. FAISS is a test and benchmark dependency only (the service
runs on its own index, which bench/RESULTS.md measures against FAISS).
"""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt


def faiss_range(
    ids: npt.NDArray[np.int64], codes: npt.NDArray[np.uint8], queries: npt.NDArray[np.uint8], threshold: int
) -> list[list[tuple[int, int]]]:
    """Every (id, distance) within ``threshold`` of each query, from ``IndexBinaryFlat``'s range
    search, sorted like ``HammingIndex.search`` (distance, then id)."""
    if threshold < 0 or len(codes) == 0:
        return [[] for _ in queries]
    index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
    index.add(np.ascontiguousarray(codes, dtype=np.uint8))
    # FAISS's radius is exclusive: distance < radius.
    lims, distances, rows = index.range_search(np.ascontiguousarray(queries, dtype=np.uint8), threshold + 1)
    out: list[list[tuple[int, int]]] = []
    for q in range(len(queries)):
        lo, hi = int(lims[q]), int(lims[q + 1])
        pairs = zip(ids[rows[lo:hi]].tolist(), distances[lo:hi].tolist(), strict=True)
        out.append(sorted(((int(i), int(d)) for i, d in pairs), key=lambda hit: (hit[1], hit[0])))
    return out
