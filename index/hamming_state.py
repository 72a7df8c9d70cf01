"""What a ``HammingIndex`` is at one moment: immutable segments, each with the ids removed since
it was built (tombstones), and the flat delta. Writers build a new ``State`` and publish it with
one assignment, so a search holds one ``State`` from start to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from index.segments import Ids, Segment


@dataclass(frozen=True)
class Part:
    segment: Segment
    dead: frozenset[int] = field(default_factory=frozenset)

    @cached_property
    def dead_ids(self) -> Ids:
        return np.sort(np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))

    @property
    def live(self) -> int:
        return len(self.segment) - len(self.dead)


@dataclass(frozen=True)
class State:
    parts: tuple[Part, ...]
    delta: Segment

    @property
    def count(self) -> int:
        return sum(p.live for p in self.parts) + len(self.delta)


def member(values: Ids, sorted_set: Ids) -> npt.NDArray[np.bool_]:
    """``np.isin(values, sorted_set)`` by binary search: np.isin sorts (or hashes) both sides,
    which at 10 M rows costs seconds."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return np.asarray(sorted_set[pos] == values)


def sorted_unique(ids: Ids) -> Ids:
    # Not np.unique: numpy 2.4's hash-based unique takes seconds per million int64s.
    s = np.sort(ids)
    if len(s) < 2:
        return s
    unique: Ids = s[np.concatenate([[True], s[1:] != s[:-1]])]
    return unique
