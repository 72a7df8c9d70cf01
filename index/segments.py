"""Immutable index segments: a set of (id, code) rows that can be range-searched.

A segment never changes after it is built, so any number of threads may search it while a
writer builds the next one. Rows are kept sorted by id (ids are unique within a segment), which
lets ``positions`` find an id by binary search instead of a per-entry dict (a dict of 10 M ints
costs more memory than the codes themselves).

Every segment's state is a set of plain numpy arrays plus a few integers: that is all a snapshot
stores, and loading memory-maps the arrays back.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from index import _kernels

Codes = npt.NDArray[np.uint8]
Ids = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]
Array = npt.NDArray[Any]


# A search's hits in the FAISS range-search layout: the hits of query ``q`` are
# ``rows[lims[q]:lims[q + 1]]``, with their distances alongside.
SearchResult = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]


def words_per_code(bits: int) -> int:
    return (bits + 63) // 64


def to_words(codes: Codes, bits: int) -> Words:
    """(n, bits/8) uint8 codes to (n, ceil(bits/64)) uint64 words, zero-padded."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] * 8 != bits:
        raise ValueError(f"codes must have shape (n, {bits // 8}), got {codes.shape}")
    nbytes = words_per_code(bits) * 8
    if codes.shape[1] != nbytes:
        padded = np.zeros((codes.shape[0], nbytes), dtype=np.uint8)
        padded[:, : codes.shape[1]] = codes
        codes = padded
    return codes.view("<u8").astype(np.uint64, copy=False).reshape(codes.shape[0], nbytes // 8)


def to_codes(words: Words, bits: int) -> Codes:
    raw = np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(words.shape[0], -1)
    return raw[:, : bits // 8]


class Segment:
    """Rows sorted by id, searched by a flat scan. The base for the other structures."""

    kind: ClassVar[str] = "flat"

    def __init__(self, bits: int, ids: Ids, words: Words) -> None:
        self.bits = bits
        self.ids = ids
        self.words = words

    @classmethod
    def build(cls, bits: int, ids: Ids, words: Words, **options: Any) -> Segment:
        """From unsorted rows; ids must be unique."""
        ids, words = sort_rows(ids, words)
        return cls(bits, ids, words)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays().values())

    def positions(self, ids: Ids) -> npt.NDArray[np.int64]:
        """Row of each id, or -1 where the id is not in this segment."""
        if not len(self):
            return np.full(len(ids), -1, dtype=np.int64)
        found = np.searchsorted(self.ids, ids).astype(np.int64)
        found[found >= len(self)] = 0
        return np.where(self.ids[found] == ids, found, -1)

    def search(self, queries: Words, threshold: int) -> SearchResult:
        lims, rows, dists = _kernels.flat_search(queries, self.words, threshold)
        return lims, rows, dists

    def arrays(self) -> dict[str, Array]:
        return {"ids": self.ids, "words": self.words}

    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def restore(cls, bits: int, arrays: dict[str, Array], params: dict[str, Any]) -> Segment:
        return cls(bits, arrays["ids"], arrays["words"])


def sort_rows(ids: Ids, words: Words) -> tuple[Ids, Words]:
    order = np.argsort(ids, kind="stable")
    ids = np.ascontiguousarray(ids[order])
    if len(ids) > 1 and bool(np.any(ids[1:] == ids[:-1])):
        raise ValueError("ids must be unique")
    return ids, np.ascontiguousarray(words[order])


def empty_result(nq: int) -> SearchResult:
    return (
        np.zeros(nq + 1, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int32),
    )
