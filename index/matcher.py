"""Matches hashes against every enabled list, each with its own thresholds.

One index per (list, algorithm): a per-list threshold is then simply the radius of that list's
search, and a hit already knows its list without a lookup table of entry metadata.

A ``Matcher`` follows list changes in place (``update_list``): entries are added to and removed from
the live indexes, which stay searchable throughout (``HammingIndex`` allows concurrent searches
during a write); a list whose thresholds changed is rebuilt aside and swapped in whole. Memory
during an update is the size of the change, not a second copy of the index.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# Each algorithm's default threshold, and the algorithms a list decides on unless its policy says
# otherwise (``hashwatch lists policy --decide``): from the algorithm specs, named here too.
from index.algorithms import DEFAULT_DECIDING as DEFAULT_DECIDING
from index.algorithms import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS
from index.factory import build_index, new_index
from index.hamming import HammingIndex, pack
from index.hashes import Algorithm, Hash
from index.policy import ActionPolicy


class ListKind(enum.StrEnum):
    # Known material: a hit blocks (or queues for review, as the list's policy says).
    MATCH = "match"
    # Known-benign hashes: a hit suppresses perceptual-hash hits on other lists for that content.
    NEGATIVE = "negative"


class Combine(enum.StrEnum):
    # One algorithm within its threshold is enough.
    ANY = "any"
    # Hits within threshold from at least two distinct algorithms (an exact MD5/SHA-1 hit is
    # enough alone: it is the same file, not a look-alike).
    AT_LEAST_TWO = "at_least_two"


@dataclass(frozen=True)
class ListConfig:
    list_id: int
    name: str
    thresholds: Mapping[Algorithm, int] = field(default_factory=dict)
    # The list's version in the database when this index was built or last brought up to date.
    version: int = 0
    # Per algorithm, the upper end (inclusive) of the review band above the threshold: a hit at
    # threshold < distance <= review is recorded and queued for an analyst, never blocks.
    review: Mapping[Algorithm, int] = field(default_factory=dict)
    combine: Combine = Combine.ANY
    kind: ListKind = ListKind.MATCH
    # Entries held by flood protection: their hits are queued for review instead of blocking.
    held: frozenset[int] = frozenset()
    # The list's action policy, whole: which algorithms decide, and what a hit that decides
    # sets in motion (``scanner.decision`` computes a match's outcome from it).
    policy: ActionPolicy = field(default_factory=ActionPolicy)

    @property
    def block(self) -> bool:
        """A hit that decides blocks; otherwise it is recorded (and acted on) without blocking."""
        return self.policy.block

    @property
    def decide(self) -> frozenset[Algorithm]:
        """The algorithms whose entries are searched; entries of the others never match."""
        return self.policy.decide

    def threshold(self, algorithm: Algorithm) -> int:
        return self.thresholds.get(algorithm, DEFAULT_THRESHOLDS[algorithm])

    def reach(self, algorithm: Algorithm) -> int:
        """How far a search goes: the threshold, or the end of the review band beyond it."""
        return max(self.threshold(algorithm), self.review.get(algorithm, 0))


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
    # Which form of the content matched: "" the image as uploaded, else a PDQ rotation or mirror
    # (``scanner.hashing.pdq.DIHEDRAL_NAMES``), "deborder" (the image inside a uniform border),
    # or both ("deborder+rot90").
    variant: str = ""
    # What the scan's policy made of the hit (``scanner.decision.Action``): "block", "record"
    # (the list's policy does not block), or one of the reasons it was queued for review.
    action: str = "block"

    @property
    def in_review_band(self) -> bool:
        return self.distance > self.threshold


@dataclass(frozen=True)
class Query:
    hash: Hash
    variant: str = ""


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

    def search(self, queries: Sequence[Query], *, review_band: bool) -> list[MatchHit]:
        """Hits within each algorithm's threshold (and its review band, with ``review_band``);
        each algorithm's queries go to its index in one batch."""
        config = self.config
        hits: list[MatchHit] = []
        by_algorithm: dict[Algorithm, list[Query]] = {}
        for query in queries:
            by_algorithm.setdefault(query.hash.algorithm, []).append(query)
        for algorithm, batch in by_algorithm.items():
            index = self.indexes.get(algorithm)
            if index is None or algorithm not in config.decide:
                continue
            threshold = config.threshold(algorithm)
            radius = config.reach(algorithm) if review_band else threshold
            found = index.search(pack([q.hash.value for q in batch], algorithm.bits), radius)
            for query, results in zip(batch, found, strict=True):
                hits.extend(
                    MatchHit(
                        config.list_id,
                        config.name,
                        entry_id,
                        algorithm,
                        distance,
                        threshold,
                        query.hash,
                        query.variant,
                    )
                    for entry_id, distance in results
                )
        return hits


def _nearest_first(hit: MatchHit) -> tuple[int, str, int, int]:
    return (hit.distance, hit.list_name, hit.entry_id, len(hit.variant))


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
        self._deciding: frozenset[Algorithm] | None = None

    def deciding_algorithms(self) -> frozenset[Algorithm]:
        """The algorithms some held list decides on and has entries for: what a scan must
        compute to be matched against every list. Kept until the lists change."""
        deciding = self._deciding
        if deciding is not None:
            return deciding
        with self._write:  # so that no change lands between computing and keeping it
            deciding = frozenset(
                algorithm
                for index in self._lists.values()
                for algorithm in index.config.decide
                if index.size(algorithm)
            )
            self._deciding = deciding
        return deciding

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        """Every (list, entry) of a ``match`` list within its list's threshold of any of
        ``hashes``, nearest first (no review band, no negative lists: see ``search``)."""
        queries = [Query(h) for h in hashes]
        hits = [
            hit
            for index in list(self._lists.values())
            if index.config.kind is ListKind.MATCH
            for hit in index.search(queries, review_band=False)
        ]
        return sorted(hits, key=_nearest_first)

    def search(self, queries: Sequence[Query]) -> list[MatchHit]:
        """Every (list, entry) of every list, negative ones included, within its threshold or
        its review band of any query, nearest first; what the scan's policy step decides on."""
        hits = [
            hit for index in list(self._lists.values()) for hit in index.search(queries, review_band=True)
        ]
        return sorted(hits, key=_nearest_first)

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
            self._deciding = None

    def replace_list_indexes(self, config: ListConfig, indexes: Mapping[Algorithm, HammingIndex]) -> None:
        """Swap in a list from ready indexes (loaded from snapshots)."""
        rebuilt = _ListIndex(config, indexes)
        with self._write:
            self._lists[config.list_id] = rebuilt
            self._deciding = None

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
            self._deciding = None

    def drop_list(self, list_id: int) -> None:
        with self._write:
            self._lists.pop(list_id, None)
            self._deciding = None

    def compact(self) -> int:
        """Compact the indexes whose delta or tombstones grew; returns how many changed. Safe
        beside searches and updates (``HammingIndex.compact`` builds outside its write lock)."""
        changed = 0
        for held in list(self._lists.values()):
            for index in list(held.indexes.values()):
                if index.needs_compaction() and index.compact():
                    changed += 1
        return changed
