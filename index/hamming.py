"""Exact Hamming-distance range search over fixed-width binary codes, keyed by int64 ids.

Every entry within the threshold is returned and nothing beyond it. FAISS's binary range search
keeps distances strictly below the radius, so the radius passed down is ``threshold + 1``.
"""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt

Codes = npt.NDArray[np.uint8]
Ids = npt.NDArray[np.int64]


class HammingIndex:
    def __init__(self, bits: int) -> None:
        if bits % 8 or bits <= 0:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        self.bits = bits
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: Ids, codes: Codes) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = self._check_codes(codes)
        if len(ids) != len(codes):
            raise ValueError(f"{len(ids)} ids for {len(codes)} codes")
        if len(ids):
            self._index.add_with_ids(codes, ids)

    def remove(self, ids: Ids) -> int:
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(self, codes: Codes, threshold: int) -> list[list[tuple[int, int]]]:
        """For each query code, ``(id, distance)`` of every entry at distance <= threshold,
        nearest first (ties by id)."""
        codes = self._check_codes(codes)
        if not len(codes) or not len(self) or threshold < 0:
            return [[] for _ in range(len(codes))]
        lims, distances, labels = self._index.range_search(codes, threshold + 1)
        results: list[list[tuple[int, int]]] = []
        for q in range(len(codes)):
            lo, hi = int(lims[q]), int(lims[q + 1])
            hits = sorted(zip(distances[lo:hi].tolist(), labels[lo:hi].tolist(), strict=True))
            results.append([(int(label), int(dist)) for dist, label in hits])
        return results

    def _check_codes(self, codes: Codes) -> Codes:
        array = np.ascontiguousarray(codes, dtype=np.uint8)
        if array.ndim != 2 or array.shape[1] * 8 != self.bits:
            raise ValueError(f"codes must have shape (n, {self.bits // 8}), got {array.shape}")
        return array


def pack(values: list[bytes], bits: int) -> Codes:
    """Hash byte strings to the (n, bits/8) uint8 array the index takes."""
    if not values:
        return np.zeros((0, bits // 8), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), bits // 8)
