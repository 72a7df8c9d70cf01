"""What the scan path needs from storage: record a match durably, nothing more.

The scanner never imports the database layer; the composition root (``scanner.app``) hands
it an object with this shape. ``InMemoryRecorder`` is a working double for tests and embedders.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from index.hashes import Hash
from index.matcher import MatchHit
from scanner.decision import Decision, MatchActions


@dataclass(frozen=True)
class ScanContext:
    request_id: str = ""
    customer_id: str = ""
    url: str = ""
    client_ip: str = ""
    content_type: str = ""
    # Who found the match: "scan" (the service), "rescan" or "stored" (scanner.rescan).
    source: str = "scan"


class RecordingFailed(Exception):
    """The match could not be stored."""


class MatchRecorder(Protocol):
    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        """Store the match (``decision.kept``) and do what ``decision.actions`` says, durably;
        return its id. Raise ``RecordingFailed`` otherwise. ``content`` is the matched bytes,
        kept as evidence. Nothing is decided here (``scanner.decision`` did it)."""
        ...


@dataclass(frozen=True)
class BlockStatus:
    url: str
    # none | pending | active | resolved
    state: str
    reason: str = ""
    match_id: int = 0
    updated_unix: int = 0


class BlockReader(Protocol):
    def block_status(self, customer_id: str, urls: Sequence[str]) -> list[BlockStatus]:
        """One status per URL, in order; state "none" for URLs never blocked."""
        ...


@dataclass(frozen=True)
class RecordedMatch:
    match_id: int
    context: ScanContext
    hashes: tuple[Hash, ...]
    hits: tuple[MatchHit, ...]
    content: bytes
    actions: MatchActions = field(default_factory=MatchActions)


class InMemoryRecorder:
    """Records matches in a list and blocks the URLs whose match blocks; for tests and embedders."""

    def __init__(self) -> None:
        self.matches: list[RecordedMatch] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        with self._lock:
            match_id = next(self._ids)
            self.matches.append(
                RecordedMatch(match_id, context, tuple(hashes), decision.kept, content, decision.actions)
            )
            return match_id

    def block_status(self, customer_id: str, urls: Sequence[str]) -> list[BlockStatus]:
        with self._lock:
            blocked = {
                m.context.url: m.match_id
                for m in self.matches
                if m.context.customer_id == customer_id and m.actions.block
            }
        return [
            BlockStatus(url, "active", "matched", blocked[url])
            if url in blocked
            else BlockStatus(url, "none")
            for url in urls
        ]
