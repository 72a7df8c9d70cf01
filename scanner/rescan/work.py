"""The per-item work, run in worker processes (or Ray actors): read, hash, match. No database.

Hashing and matching go through ``ScanEngine.hash`` and ``ScanEngine.decide``, the very code the
service runs, so a rescan finds what a scan of the same bytes would. The parent, which owns the
database, decides each item's hits again for its customer (``runner``) and records them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from index.hashes import Algorithm, Hash
from index.matcher import Matcher, MatchHit
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.recording import InMemoryRecorder
from scanner.rescan.fetch import PUBLIC_ONLY, FetchPolicy, Unreadable, read_content
from scanner.rescan.ports import MatcherInputs
from scanner.rescan.sources import Item

# One item's result as plain values, the form it crosses a process boundary in: outcome, reason,
# SHA-256, hashes as (algorithm, value, quality, frame), hits, matched content. Plain tuples
# pickle several times faster than the dataclasses they stand for, and the receiving side (the
# parent, which shares the cores with the workers) pays the unpickling.
Reply = tuple[str, str, str, tuple[tuple[str, bytes, int | None, int], ...], tuple[MatchHit, ...], bytes]
_ALGORITHMS = {algorithm.value: algorithm for algorithm in Algorithm}


@dataclass(frozen=True)
class ItemResult:
    item: Item
    # An ``Outcome`` value, or "unreadable".
    outcome: str
    reason: str = ""
    content_sha256: str = ""
    hashes: tuple[Hash, ...] = ()
    hits: tuple[MatchHit, ...] = ()
    # Only when something matched: the bytes become evidence.
    content: bytes = b""

    @property
    def hashed(self) -> bool:
        return self.outcome in ("scanned", "low_quality")

    @classmethod
    def from_reply(cls, item: Item, reply: Reply) -> ItemResult:
        outcome, reason, sha256, hashes, hits, content = reply
        return cls(
            item,
            outcome,
            reason,
            sha256,
            tuple(Hash(_ALGORITHMS[a], value, quality, frame) for a, value, quality, frame in hashes),
            hits,
            content,
        )


class ItemWorker:
    """Built once per worker process or actor: the matcher is the expensive part."""

    def __init__(
        self,
        matcher_inputs: MatcherInputs,
        hashing: HashingConfig,
        algorithms: Sequence[Algorithm] = DEFAULT_ALGORITHMS,
        fetching: FetchPolicy = PUBLIC_ONLY,
    ) -> None:
        self.hashing = hashing
        self.fetching = fetching
        self.engine = ScanEngine(
            hashing, MatcherHolder(Matcher(matcher_inputs)), InMemoryRecorder(), algorithms
        )

    def run(self, item: Item) -> ItemResult:
        return ItemResult.from_reply(item, self.reply(item.location))

    def reply(self, location: str) -> Reply:
        """Read, hash and match what is at ``location``."""
        try:
            content = read_content(location, self.hashing.limits.max_bytes, self.fetching)
        except Unreadable as exc:
            return (exc.outcome, exc.reason, "", (), (), b"")
        sha256 = hashlib.sha256(content).hexdigest()
        outcome = self.engine.hash(content)
        # The scan's own matching step: rotations, de-bordered copy, each list's policy.
        hits = self.engine.decide(outcome, content).kept
        return (
            outcome.outcome.value,
            outcome.reason,
            sha256,
            tuple((h.algorithm.value, h.value, h.quality, h.frame) for h in outcome.hashes),
            hits,
            content if hits else b"",
        )
