"""Exact-match index for cryptographic hashes (MD5, SHA-1), with the Hamming index's interface.

The rows are sorted by their first 64 bits, which for a cryptographic hash are as good as a
random key, and found by binary search; a 64-bit collision costs one more comparison, never a
wrong answer. Sorted arrays rather than a Python set: 10 M MD5s take 400 MB here (codes, ids,
sorted first words and their rows) against well over 1 GB as a dict of bytes, and they
snapshot and memory-map like the Hamming segments. Updates, tombstones, compaction and
snapshots are the Hamming index's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from index import _kernels
from index.hamming import HammingIndex
from index.hamming_snapshot import register_segment_kind
from index.segments import Array, Codes, Ids, SearchResult, Segment, Words, sort_rows


class ExactSegment(Segment):
    kind: ClassVar[str] = "exact"

    def __init__(
        self,
        bits: int,
        ids: Ids,
        words: Words,
        *,
        first_sorted: npt.NDArray[np.uint64],
        order: npt.NDArray[np.int64],
    ) -> None:
        super().__init__(bits, ids, words)
        self.first_sorted = first_sorted
        self.order = order

    @classmethod
    def build(cls, bits: int, ids: Ids, words: Words, **options: Any) -> ExactSegment:
        ids, words = sort_rows(ids, words)
        first = np.ascontiguousarray(words[:, 0]) if len(words) else np.zeros(0, np.uint64)
        order = np.argsort(first, kind="stable").astype(np.int64)
        return cls(bits, ids, words, first_sorted=np.ascontiguousarray(first[order]), order=order)

    def search(self, queries: Words, threshold: int) -> SearchResult:
        lims, rows = _kernels.exact_lookup(queries, self.words, self.first_sorted, self.order)
        return lims, rows, np.zeros(len(rows), dtype=np.int32)

    def arrays(self) -> dict[str, Array]:
        return {**super().arrays(), "first_sorted": self.first_sorted, "order": self.order}

    @classmethod
    def restore(cls, bits: int, arrays: dict[str, Array], params: dict[str, Any]) -> ExactSegment:
        return cls(
            bits, arrays["ids"], arrays["words"], first_sorted=arrays["first_sorted"], order=arrays["order"]
        )


register_segment_kind(ExactSegment)


class ExactIndex(HammingIndex):
    """Entries equal to the query. ``search`` takes a threshold for the Hamming index's
    signature and ignores it: every hit is at distance 0."""

    kind: ClassVar[str] = "exact"

    def search(self, codes: Codes, threshold: int = 0) -> list[list[tuple[int, int]]]:
        return super().search(codes, 0)

    def _build_segment(self, ids: Ids, words: Words) -> Segment:
        if self.structure == "flat" or (self.structure == "auto" and len(ids) < self.flat_below):
            return Segment.build(self.bits, ids, words)
        return ExactSegment.build(self.bits, ids, words)
