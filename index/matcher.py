"""Matches hashes against every enabled list, each with its own thresholds.

One index per (list, algorithm): a per-list threshold is then simply the radius of that list's
search, and a hit already knows its list without a lookup table of entry metadata. A
``Matcher`` is immutable once built; the service swaps in a new one to change what it matches.
"""

from __future__ import annotations

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
        self.exact: dict[Algorithm, dict[bytes, list[int]]] = {}
        grouped: dict[Algorithm, tuple[list[int], list[bytes]]] = {}
        for entry_id, value in entries:
            ids, codes = grouped.setdefault(value.algorithm, ([], []))
            ids.append(entry_id)
            codes.append(value.value)
        for algorithm, (ids, codes) in grouped.items():
            if algorithm.is_exact:
                table = self.exact.setdefault(algorithm, {})
                for entry_id, code in zip(ids, codes, strict=True):
                    table.setdefault(code, []).append(entry_id)
            else:
                index = HammingIndex(algorithm.bits)
                index.add(np.asarray(ids, dtype=np.int64), pack(codes, algorithm.bits))
                self.hamming[algorithm] = index

    def size(self, algorithm: Algorithm) -> int:
        if algorithm.is_exact:
            return sum(len(v) for v in self.exact.get(algorithm, {}).values())
        index = self.hamming.get(algorithm)
        return len(index) if index else 0

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        hits: list[MatchHit] = []
        for query in hashes:
            algorithm = query.algorithm
            threshold = self.config.threshold(algorithm)
            if algorithm.is_exact:
                for entry_id in self.exact.get(algorithm, {}).get(query.value, []):
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


class Matcher:
    def __init__(self, lists: Iterable[tuple[ListConfig, Iterable[tuple[int, Hash]]]] = ()) -> None:
        self._lists = [_ListIndex(config, entries) for config, entries in lists]

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        """Every (list, entry) within its list's threshold of any of ``hashes``, nearest first."""
        hits = [hit for index in self._lists for hit in index.match(hashes)]
        return sorted(hits, key=lambda h: (h.distance, h.list_name, h.entry_id))

    def sizes(self) -> dict[str, dict[Algorithm, int]]:
        """Entries per list and algorithm."""
        return {
            index.config.name: {a: index.size(a) for a in Algorithm if index.size(a)} for index in self._lists
        }
