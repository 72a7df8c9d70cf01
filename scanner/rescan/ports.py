"""What a rescan needs from storage (``reporting.matches.rescans.RescanStore`` provides it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from index.hashes import Hash
from index.matcher import ListConfig
from scanner.decision import Decision
from scanner.recording import ScanContext

MatcherInputs = list[tuple[ListConfig, list[tuple[int, Hash]]]]


@dataclass(frozen=True)
class LoggedScan:
    """One scan in the hash log: who, where, when and the hashes. Never the content."""

    customer_id: str
    url: str
    content_sha256: str
    hashes: tuple[Hash, ...]
    scanned_at: datetime
    id: int = 0
    # The service matched it at scan time (and recorded that match).
    matched: bool = False


class OnceRecorder(Protocol):
    def record_once(
        self,
        context: ScanContext,
        content_sha256: str,
        hashes: Sequence[Hash],
        decision: Decision,
        content: bytes,
    ) -> int | None:
        """Record a match as ``decision`` says, unless this (customer, URL, content) already was;
        None if it was."""
        ...


class HashLogSink(Protocol):
    def write_hash_log(self, rows: Sequence[LoggedScan]) -> None: ...

    def purge_hash_log(self, older_than: datetime) -> int: ...


class HashLogSource(Protocol):
    def logged_scans(self, customer_id: str | None = None, batch: int = 2000) -> Iterator[LoggedScan]: ...

    def entries_added_since(self, since: datetime) -> MatcherInputs: ...

    def hash_log_size(self, customer_id: str | None = None) -> int: ...
