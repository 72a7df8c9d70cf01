"""Exact Hamming-distance range search over fixed-width binary codes, keyed by int64 ids.

Every entry within the threshold is returned and nothing beyond it, for any threshold.

An index is a few immutable *segments* plus a small flat *delta* (log-structured, as in an LSM
tree). Each segment carries the set of its ids removed since it was built (tombstones):

* ``add`` writes to the delta; once the delta holds ``delta_limit`` rows it is frozen into a
  segment of its own. Re-adding an existing id replaces its code.
* ``remove`` deletes from the delta, or tombstones a segment's row.
* ``compact`` merges small segments (all of them with ``full=True``) and drops tombstoned rows.
  It builds outside the write lock, so adds and removes carry on meanwhile, and only ever merges
  what is small unless asked: memory stays bounded by the largest segment plus what is merged.
* Large segments are multi-index hashing (``mih.py``), small ones a flat scan.

Thread-safety: searches never lock. The whole index state is one immutable object that writers
replace with a single reference assignment, so a search sees the index before a change or after
it, never halfway. Writers (``add``, ``remove``, ``compact``'s final swap) serialise on a lock.
That state is ``index.hamming_state``; how an index is saved and loaded, ``index.hamming_snapshot``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from index import hamming_snapshot
from index.hamming_state import Part, State, member, sorted_unique
from index.mih import MihSegment
from index.segments import Codes, Ids, Segment, Words, empty_result, to_words

Structure = Literal["auto", "flat", "mih"]

# Below this many rows a flat scan is as fast as multi-index hashing and uses less memory
# (bench/bench_index.py measures the crossover; see bench/RESULTS.md).
FLAT_BELOW = 16_384
DELTA_LIMIT = 32_768
# compact() merges the segments smaller than this fraction of the largest one.
SMALL_FRACTION = 0.25
# compact() also rewrites a segment once this fraction of its rows are tombstones.
DEAD_FRACTION = 0.2


@dataclass(frozen=True)
class IndexStats:
    count: int
    segments: tuple[tuple[str, int, int], ...]  # (kind, rows, tombstones), oldest first
    delta: int
    nbytes: int


class HammingIndex:
    """Exact range search by Hamming distance; see the module docstring."""

    kind: ClassVar[str] = "hamming"

    def __init__(
        self,
        bits: int,
        *,
        structure: Structure = "auto",
        flat_below: int = FLAT_BELOW,
        delta_limit: int = DELTA_LIMIT,
        algorithm: str | None = None,
    ) -> None:
        if bits % 8 or bits <= 0:
            raise ValueError(f"bits must be a positive multiple of 8, got {bits}")
        self.bits = bits
        self.structure = structure
        self.flat_below = flat_below
        self.delta_limit = delta_limit
        self.algorithm = algorithm
        self._lock = threading.Lock()
        self._compact_lock = threading.Lock()
        self._state = State((), self._empty())

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, bits: int, ids: Ids, codes: Codes, **options: Any) -> Self:
        """An index over many entries at once, as one segment (no delta round trip)."""
        index = cls(bits, **options)
        ids, words = index._check(ids, codes)
        if len(ids):
            index._state = State((Part(index._build_segment(ids, words)),), index._empty())
        return index

    def _build_segment(self, ids: Ids, words: Words) -> Segment:
        if self.structure == "mih" or (self.structure == "auto" and len(ids) >= self.flat_below):
            return MihSegment.build(self.bits, ids, words)
        return Segment.build(self.bits, ids, words)

    def _empty(self) -> Segment:
        return Segment(self.bits, np.zeros(0, np.int64), np.zeros((0, (self.bits + 63) // 64), np.uint64))

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._state.count

    def search(self, codes: Codes, threshold: int) -> list[list[tuple[int, int]]]:
        """For each query code, ``(id, distance)`` of every entry at distance <= threshold,
        nearest first (ties by id)."""
        queries = self._words(codes)
        results: list[list[tuple[int, int]]] = [[] for _ in range(len(queries))]
        if not len(queries) or threshold < 0:
            return results
        state = self._state
        nq = len(queries)
        found_q, found_ids, found_d = [], [], []
        for part in (*state.parts, Part(state.delta)):
            segment = part.segment
            if not len(segment):
                continue
            lims, rows, dists = self._search_segment(segment, queries, threshold)
            if not len(rows):
                continue
            ids = segment.ids[rows]
            q_of = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
            if part.dead:
                live = ~member(ids, part.dead_ids)
                ids, q_of, dists = ids[live], q_of[live], dists[live]
            found_q.append(q_of)
            found_ids.append(ids)
            found_d.append(dists)
        if not found_ids:
            return results
        # Sorting and splitting in numpy: a near-duplicate family can return thousands of hits.
        q_all = np.concatenate(found_q)
        ids_all = np.concatenate(found_ids)
        d_all = np.concatenate(found_d)
        order = np.lexsort((ids_all, d_all, q_all))
        bounds = np.searchsorted(q_all[order], np.arange(nq + 1)).tolist()
        ids_list = ids_all[order].tolist()
        d_list = d_all[order].tolist()
        for q in range(nq):
            lo, hi = bounds[q], bounds[q + 1]
            if hi > lo:
                results[q] = list(zip(ids_list[lo:hi], d_list[lo:hi], strict=True))
        return results

    def _search_segment(
        self, segment: Segment, queries: Words, threshold: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        return segment.search(queries, threshold)

    def stats(self) -> IndexStats:
        state = self._state
        return IndexStats(
            count=state.count,
            segments=tuple((p.segment.kind, len(p.segment), len(p.dead)) for p in state.parts),
            delta=len(state.delta),
            nbytes=sum(p.segment.nbytes for p in state.parts) + state.delta.nbytes,
        )

    def needs_compaction(self) -> bool:
        """True when ``compact()`` would merge something: the server's background thread polls this."""
        return bool(self._plan(self._state.parts, full=False))

    # -- writing ----------------------------------------------------------------------------

    def add(self, ids: Ids, codes: Codes) -> None:
        """Add entries; an id already present has its code replaced."""
        ids, words = self._check(ids, codes)
        if not len(ids):
            return
        with self._lock:
            state = self._state
            parts = self._tombstone(state.parts, ids)[0]
            delta = state.delta
            keep = ~member(delta.ids, sorted_unique(ids))
            merged_ids = np.concatenate([delta.ids[keep], ids])
            merged_words = np.concatenate([delta.words[keep], words])
            if len(merged_ids) >= self.delta_limit:
                parts = (*parts, Part(self._build_segment(merged_ids, merged_words)))
                new_delta = self._empty()
            else:
                new_delta = Segment.build(self.bits, merged_ids, merged_words)
            self._state = State(parts, new_delta)

    def remove(self, ids: Ids) -> int:
        """Remove entries by id; returns how many were present."""
        ids = sorted_unique(np.asarray(ids, dtype=np.int64))
        if not len(ids):
            return 0
        with self._lock:
            state = self._state
            parts, removed = self._tombstone(state.parts, ids)
            delta = state.delta
            keep = ~member(delta.ids, ids)
            removed += int(len(delta.ids) - keep.sum())
            if removed:
                new_delta = delta if keep.all() else Segment(self.bits, delta.ids[keep], delta.words[keep])
                self._state = State(parts, new_delta)
            return removed

    @staticmethod
    def _tombstone(parts: tuple[Part, ...], ids: Ids) -> tuple[tuple[Part, ...], int]:
        """Parts with every live row among ``ids`` tombstoned, and how many that was."""
        out: list[Part] = []
        count = 0
        for part in parts:
            found = ids[part.segment.positions(ids) >= 0].tolist()
            new = [i for i in found if i not in part.dead]
            if new:
                count += len(new)
                part = replace(part, dead=part.dead | frozenset(new))
            out.append(part)
        return tuple(out), count

    def compact(self, *, full: bool = False) -> bool:
        """Freeze the delta and merge small segments (every segment with ``full``), dropping
        tombstoned rows. Searches and writes go on while it builds. Returns whether anything
        changed. Call it from a background thread when ``needs_compaction()``."""
        with self._compact_lock:
            with self._lock:
                state = self._state
                froze = bool(len(state.delta))
                if froze:
                    parts = (*state.parts, Part(self._build_segment(state.delta.ids, state.delta.words)))
                    state = State(parts, self._empty())
                    self._state = state
            chosen = self._plan(state.parts, full=full)
            if not chosen:
                return froze
            ids_list, words_list = [], []
            for part in chosen:
                segment = part.segment
                if part.dead:
                    keep = ~member(segment.ids, part.dead_ids)
                    ids_list.append(segment.ids[keep])
                    words_list.append(segment.words[keep])
                else:
                    ids_list.append(np.asarray(segment.ids))
                    words_list.append(np.asarray(segment.words))
            merged_ids = np.concatenate(ids_list)
            merged = self._build_segment(merged_ids, np.concatenate(words_list)) if len(merged_ids) else None
            with self._lock:
                current = self._state
                chosen_segments = {id(p.segment): p for p in chosen}
                later_dead: set[int] = set()
                rest: list[Part] = []
                for part in current.parts:
                    before = chosen_segments.get(id(part.segment))
                    if before is None:
                        rest.append(part)
                    else:
                        later_dead |= part.dead - before.dead
                new_parts = [Part(merged, frozenset(later_dead))] if merged is not None else []
                # The merged segment holds the oldest rows it was built from; keep it first so a
                # reader of stats sees the big base first.
                self._state = State((*new_parts, *rest), current.delta)
            return True

    def _plan(self, parts: tuple[Part, ...], *, full: bool) -> list[Part]:
        if not parts:
            return []
        if full:
            return list(parts) if len(parts) > 1 or parts[0].dead else []
        largest = max(len(p.segment) for p in parts)
        small = [p for p in parts if len(p.segment) < SMALL_FRACTION * largest]
        dirty = [p for p in parts if p.dead and len(p.dead) >= DEAD_FRACTION * len(p.segment)]
        chosen = {id(p): p for p in (*small, *dirty)}
        if len(small) < 2 and not dirty:
            return []
        return list(chosen.values())

    # -- snapshots --------------------------------------------------------------------------

    def save(self, path: Path | str, *, source_version: str | None = None) -> dict[str, Any]:
        """Write a snapshot of the index as it is now (``index.hamming_snapshot``); returns its
        sidecar."""
        return hamming_snapshot.write(path, self, self._state, source_version)

    @classmethod
    def load(
        cls, path: Path | str, *, verify: bool = True, mmap: bool = True, algorithm: str | None = None
    ) -> Self:
        """An index from a snapshot. Raises ``SnapshotError`` if it is corrupt, partial, of
        another kind, or (given ``algorithm``) of another algorithm; the caller keeps whatever
        index it had. Loaded segments are memory-mapped and read-only, which they are anyway."""
        index, state = hamming_snapshot.read(cls, path, verify=verify, mmap=mmap, algorithm=algorithm)
        index._state = state
        return index

    # -- helpers ----------------------------------------------------------------------------

    def _check(self, ids: Ids, codes: Codes) -> tuple[Ids, Words]:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        words = self._words(codes)
        if ids.ndim != 1 or len(ids) != len(words):
            raise ValueError(f"{len(ids)} ids for {len(words)} codes")
        if len(sorted_unique(ids)) != len(ids):
            raise ValueError("ids must be unique within one call")
        return ids, words

    def _words(self, codes: Codes) -> Words:
        return to_words(np.asarray(codes, dtype=np.uint8), self.bits)


def pack(values: Sequence[bytes] | Iterable[bytes], bits: int) -> Codes:
    """Hash byte strings to the (n, bits/8) uint8 array the index takes."""
    values = list(values)
    if not values:
        return np.zeros((0, bits // 8), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(len(values), bits // 8)


__all__ = ["HammingIndex", "IndexStats", "empty_result", "pack"]
