"""Matches hashes against every enabled list, each with its own thresholds.

One index per (list, algorithm): a per-list threshold is then simply the radius of that list's
search, and a hit already knows its list without a lookup table of entry metadata.

A ``Matcher`` follows list changes in place (``update_list``): entries are added to and removed from
the live indexes, which stay searchable throughout (``HammingIndex`` allows concurrent searches
during a write); a list whose thresholds changed is rebuilt aside and swapped in whole. Memory
during an update is the size of the change, not a second copy of the index.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from index.factory import build_index, new_index
from index.hamming import HammingIndex, pack
from index.hashes import Algorithm, Hash

DEFAULT_THRESHOLDS: Mapping[Algorithm, int] = {
    Algorithm.PDQ: 31,
    Algorithm.PHASH: 10,
    Algorithm.DHASH: 10,
    Algorithm.AHASH: 10,
    Algorithm.WHASH: 10,
    Algorithm.MD5: 0,
    Algorithm.SHA1: 0,
}


@dataclass(frozen=True)
class ListConfig:
    list_id: int
    name: str
    thresholds: Mapping[Algorithm, int] = field(default_factory=dict)
    # The list's version in the database when this index was built or last brought up to date.
    version: int = 0

    def threshold(self, algorithm: Algorithm) -> int:
        return self.thresholds.get(algorithm, DEFAULT_THRESHOLDS[algorithm])


@dataclass(frozen=True)
class MatchHit:
    list_id: int
    list_name: str
    entry_id: int
    algorithm: Algorithm
    distance: int
    threshold: int
    # The content hash that matched (which frame, for animated images).
    query: Hash


# Per algorithm, entry ids (int64, unique) and their codes ((n, bits/8) uint8): what a full
# load streams out of the database without a Python object per entry.
EntryArrays = Mapping[Algorithm, tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]


class _ListIndex:
    """One list's indexes, one per algorithm: Hamming for perceptual hashes, exact (sorted,
    binary-searched arrays) for MD5/SHA-1, so every kind snapshots and memory-maps alike."""

    def __init__(self, config: ListConfig, indexes: Mapping[Algorithm, HammingIndex]) -> None:
        self.config = config
        self.indexes: dict[Algorithm, HammingIndex] = dict(indexes)

    @classmethod
    def from_arrays(cls, config: ListConfig, arrays: EntryArrays) -> _ListIndex:
        return cls(
            config,
            {
                algorithm: build_index(algorithm, ids, codes)
                for algorithm, (ids, codes) in arrays.items()
                if len(ids)
            },
        )

    def size(self, algorithm: Algorithm) -> int:
        index = self.indexes.get(algorithm)
        return len(index) if index else 0

    def add(self, arrays: EntryArrays) -> None:
        for algorithm, (ids, codes) in arrays.items():
            if not len(ids):
                continue
            index = self.indexes.get(algorithm)
            if index is None:
                index = self.indexes[algorithm] = new_index(algorithm)
            index.add(ids, codes)

    def remove(self, entry_ids: Sequence[int]) -> None:
        if not entry_ids:
            return
        ids = np.asarray(entry_ids, dtype=np.int64)
        for index in self.indexes.values():
            index.remove(ids)

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        hits: list[MatchHit] = []
        for query in hashes:
            algorithm = query.algorithm
            index = self.indexes.get(algorithm)
            if index is None:
                continue
            threshold = self.config.threshold(algorithm)
            for entry_id, distance in index.search(pack([query.value], algorithm.bits), threshold)[0]:
                hits.append(
                    MatchHit(
                        self.config.list_id,
                        self.config.name,
                        entry_id,
                        algorithm,
                        distance,
                        threshold,
                        query,
                    )
                )
        return hits


def entry_arrays(
    entries: Iterable[tuple[int, Hash]],
) -> dict[Algorithm, tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]:
    """Entries as ``EntryArrays`` (for callers that hold ``Hash`` objects anyway)."""
    grouped: dict[Algorithm, tuple[list[int], list[bytes]]] = {}
    for entry_id, value in entries:
        ids, codes = grouped.setdefault(value.algorithm, ([], []))
        ids.append(entry_id)
        codes.append(value.value)
    return {
        algorithm: (np.asarray(ids, dtype=np.int64), pack(codes, algorithm.bits))
        for algorithm, (ids, codes) in grouped.items()
    }


class Matcher:
    def __init__(self, lists: Iterable[tuple[ListConfig, Iterable[tuple[int, Hash]]]] = ()) -> None:
        self._lists: dict[int, _ListIndex] = {
            config.list_id: _ListIndex.from_arrays(config, entry_arrays(entries)) for config, entries in lists
        }
        self._write = threading.Lock()

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        """Every (list, entry) within its list's threshold of any of ``hashes``, nearest first."""
        hits = [hit for index in list(self._lists.values()) for hit in index.match(hashes)]
        return sorted(hits, key=lambda h: (h.distance, h.list_name, h.entry_id))

    def sizes(self) -> dict[str, dict[Algorithm, int]]:
        """Entries per list and algorithm."""
        return {
            index.config.name: {a: index.size(a) for a in Algorithm if index.size(a)}
            for index in list(self._lists.values())
        }

    def configs(self) -> dict[int, ListConfig]:
        """The lists held, with the version each is up to date with."""
        return {list_id: index.config for list_id, index in list(self._lists.items())}

    def indexes(self, list_id: int) -> dict[Algorithm, HammingIndex]:
        """A held list's live indexes, by algorithm (to snapshot them or read their stats)."""
        return dict(self._lists[list_id].indexes)

    def replace_list(self, config: ListConfig, entries: Iterable[tuple[int, Hash]]) -> None:
        """Build a list's index aside and swap it in whole (new list, or new thresholds)."""
        self.replace_list_arrays(config, entry_arrays(entries))

    def replace_list_arrays(self, config: ListConfig, arrays: EntryArrays) -> None:
        """``replace_list`` from arrays of ids and codes (a full load at millions of entries)."""
        rebuilt = _ListIndex.from_arrays(config, arrays)
        with self._write:
            self._lists[config.list_id] = rebuilt

    def replace_list_indexes(self, config: ListConfig, indexes: Mapping[Algorithm, HammingIndex]) -> None:
        """Swap in a list from ready indexes (loaded from snapshots)."""
        rebuilt = _ListIndex(config, indexes)
        with self._write:
            self._lists[config.list_id] = rebuilt

    def update_list(
        self, config: ListConfig, added: Iterable[tuple[int, Hash]], removed: Sequence[int]
    ) -> None:
        """Apply entry changes to a held list in place. ``added`` may hold ids already present
        (their codes are replaced); ``removed`` may hold ids that are not."""
        arrays = entry_arrays(added)
        with self._write:
            index = self._lists.get(config.list_id)
            if index is None:
                raise KeyError(f"list {config.list_id} is not held; replace_list it first")
            index.remove(list(removed))
            index.add(arrays)
            index.config = config

    def drop_list(self, list_id: int) -> None:
        with self._write:
            self._lists.pop(list_id, None)

    def compact(self) -> int:
        """Compact the indexes whose delta or tombstones grew; returns how many changed. Safe
        beside searches and updates (``HammingIndex.compact`` builds outside its write lock)."""
        changed = 0
        for held in list(self._lists.values()):
            for index in list(held.indexes.values()):
                if index.needs_compaction() and index.compact():
                    changed += 1
        return changed
