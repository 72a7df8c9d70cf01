"""What the scan path needs from storage: record a match durably, nothing more.

The scanner never imports the database layer; the composition root (``scanner.app``) hands
it an object with this shape. ``InMemoryRecorder`` is a working double for tests and embedders.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from index.hashes import Hash
from index.matcher import MatchHit


@dataclass(frozen=True)
class ScanContext:
    request_id: str = ""
    customer_id: str = ""
    url: str = ""
    client_ip: str = ""
    content_type: str = ""


class RecordingFailed(Exception):
    """The match could not be stored."""


class MatchRecorder(Protocol):
    def record_match(self, context: ScanContext, hashes: Sequence[Hash], hits: Sequence[MatchHit]) -> int:
        """Store the match durably and return its id; raise ``RecordingFailed`` otherwise."""
        ...


@dataclass(frozen=True)
class RecordedMatch:
    match_id: int
    context: ScanContext
    hashes: tuple[Hash, ...]
    hits: tuple[MatchHit, ...]


class InMemoryRecorder:
    def __init__(self) -> None:
        self.matches: list[RecordedMatch] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record_match(self, context: ScanContext, hashes: Sequence[Hash], hits: Sequence[MatchHit]) -> int:
        with self._lock:
            match_id = next(self._ids)
            self.matches.append(RecordedMatch(match_id, context, tuple(hashes), tuple(hits)))
            return match_id
