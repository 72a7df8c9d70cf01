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


class _ListIndex:
    def __init__(self, config: ListConfig, entries: Iterable[tuple[int, Hash]]) -> None:
        self.config = config
        self.hamming: dict[Algorithm, HammingIndex] = {}
        self.exact: dict[Algorithm, dict[bytes, set[int]]] = {}
        # Exact entries by id, so a removal needs no scan of the table.
        self.exact_codes: dict[int, tuple[Algorithm, bytes]] = {}
        for algorithm, (ids, codes) in _grouped(entries).items():
            if algorithm.is_exact:
                self._add_exact(algorithm, ids, codes)
            else:
                self.hamming[algorithm] = HammingIndex.build(
                    algorithm.bits, np.asarray(ids, dtype=np.int64), pack(codes, algorithm.bits)
                )

    def size(self, algorithm: Algorithm) -> int:
        if algorithm.is_exact:
            return sum(len(v) for v in self.exact.get(algorithm, {}).values())
        index = self.hamming.get(algorithm)
        return len(index) if index else 0

    def add(self, entries: Iterable[tuple[int, Hash]]) -> None:
        for algorithm, (ids, codes) in _grouped(entries).items():
            if algorithm.is_exact:
                self._add_exact(algorithm, ids, codes)
                continue
            index = self.hamming.get(algorithm)
            if index is None:
                index = self.hamming[algorithm] = HammingIndex(algorithm.bits)
            index.add(np.asarray(ids, dtype=np.int64), pack(codes, algorithm.bits))

    def remove(self, entry_ids: Sequence[int]) -> None:
        if not entry_ids:
            return
        for index in self.hamming.values():
            index.remove(np.asarray(entry_ids, dtype=np.int64))
        for entry_id in entry_ids:
            held = self.exact_codes.pop(entry_id, None)
            if held is not None:
                self.exact[held[0]].get(held[1], set()).discard(entry_id)

    def _add_exact(self, algorithm: Algorithm, ids: list[int], codes: list[bytes]) -> None:
        table = self.exact.setdefault(algorithm, {})
        for entry_id, code in zip(ids, codes, strict=True):
            table.setdefault(code, set()).add(entry_id)
            self.exact_codes[entry_id] = (algorithm, code)

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        hits: list[MatchHit] = []
        for query in hashes:
            algorithm = query.algorithm
            threshold = self.config.threshold(algorithm)
            if algorithm.is_exact:
                for entry_id in sorted(self.exact.get(algorithm, {}).get(query.value, ())):
                    hits.append(self._hit(entry_id, algorithm, 0, threshold, query))
                continue
            index = self.hamming.get(algorithm)
            if index is None:
                continue
            for entry_id, distance in index.search(pack([query.value], algorithm.bits), threshold)[0]:
                hits.append(self._hit(entry_id, algorithm, distance, threshold, query))
        return hits

    def _hit(
        self, entry_id: int, algorithm: Algorithm, distance: int, threshold: int, query: Hash
    ) -> MatchHit:
        return MatchHit(
            self.config.list_id, self.config.name, entry_id, algorithm, distance, threshold, query
        )


def _grouped(entries: Iterable[tuple[int, Hash]]) -> dict[Algorithm, tuple[list[int], list[bytes]]]:
    grouped: dict[Algorithm, tuple[list[int], list[bytes]]] = {}
    for entry_id, value in entries:
        ids, codes = grouped.setdefault(value.algorithm, ([], []))
        ids.append(entry_id)
        codes.append(value.value)
    return grouped


class Matcher:
    def __init__(self, lists: Iterable[tuple[ListConfig, Iterable[tuple[int, Hash]]]] = ()) -> None:
        self._lists: dict[int, _ListIndex] = {
            config.list_id: _ListIndex(config, entries) for config, entries in lists
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

    def replace_list(self, config: ListConfig, entries: Iterable[tuple[int, Hash]]) -> None:
        """Build a list's index aside and swap it in whole (new list, or new thresholds)."""
        rebuilt = _ListIndex(config, entries)
        with self._write:
            self._lists[config.list_id] = rebuilt

    def update_list(
        self, config: ListConfig, added: Iterable[tuple[int, Hash]], removed: Sequence[int]
    ) -> None:
        """Apply entry changes to a held list in place. ``added`` may hold ids already present
        (their codes are replaced); ``removed`` may hold ids that are not."""
        with self._write:
            index = self._lists.get(config.list_id)
            if index is None:
                raise KeyError(f"list {config.list_id} is not held; replace_list it first")
            index.remove(list(removed))
            index.add(added)
            index.config = config

    def drop_list(self, list_id: int) -> None:
        with self._write:
            self._lists.pop(list_id, None)
