"""The match journal: where a match goes when the database cannot take it, until it can.

A match is never lost and never answered before it is on disk. When ``record_match`` fails, the
engine spools the match (context, hashes, the decision's hits and actions, and the matched bytes,
sealed with the evidence key) to ``<data dir>/journal/`` and fsyncs it, and the directory, before
the scan is answered.
A replayer thread feeds the oldest spooled match back into the database with backoff and
deletes its file only after that transaction committed.

One file per match, written once (``O_EXCL``, mode 0600) and never changed: a crash mid-write
leaves one truncated file, which is set aside in ``journal/corrupt/`` for a human and does not
stop the rest. Replay is idempotent: each match carries a ``journal_id`` that the database keeps
unique, so a process that dies between the commit and the delete records nothing twice (the
sink answers ``AlreadyRecorded`` and the file goes).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, MatchHit
from scanner.decision import Decision, MatchActions, actions_for
from scanner.metrics import JOURNAL_SPOOLED
from scanner.recording import RecordingFailed, ScanContext

log = structlog.get_logger(__name__)

_SUFFIX = ".json"


class Sealer(Protocol):
    """Encrypts the spooled content at rest (``reporting.matches.evidence.EvidenceBox`` fits)."""

    def seal(self, match_id: int, content: bytes) -> bytes: ...

    def open(self, match_id: int, sealed: bytes) -> bytes: ...


class AlreadyRecorded(Exception):
    """The sink found this journal entry already committed (a replay after a crash)."""

    def __init__(self, match_id: int) -> None:
        super().__init__(f"already recorded as match {match_id}")
        self.match_id = match_id


@dataclass(frozen=True)
class JournalRecord:
    journal_id: str
    spooled_unix: float
    context: ScanContext
    hashes: tuple[Hash, ...]
    hits: tuple[MatchHit, ...]
    content: bytes
    # What the decision step said the match sets in motion; None in a record spooled before the
    # journal carried it (version 1): the sink takes it from the lists' policies then.
    actions: MatchActions | None = None

    def decision(self, configs: Callable[[], Mapping[int, ListConfig]]) -> Decision:
        """The decision spooled with the match; a version-1 record's actions are worked out by
        the decision step from the lists' policies as ``configs`` gives them now."""
        actions = self.actions if self.actions is not None else actions_for(self.hits, configs())
        return Decision(self.hits, actions=actions)


# Records a spooled match in the database; returns the match id. Raises ``RecordingFailed``
# (try again later) or ``AlreadyRecorded`` (done already).
JournalSink = Callable[[JournalRecord], int]


class Journal:
    def __init__(self, directory: Path, sealer: Sealer | None = None) -> None:
        self.directory = directory
        self._sealer = sealer
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # --- spooling (on the scan path) ---------------------------------------------------------

    def spool(self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes) -> str:
        """Write the match durably; return its journal id. Raises ``OSError`` if it could not."""
        journal_id = str(uuid.uuid4())
        sealed = self._sealer is not None
        body = self._sealer.seal(_aad_id(journal_id), content) if self._sealer is not None else content
        line = json.dumps(
            {
                "v": 2,
                "journal_id": journal_id,
                "spooled_unix": time.time(),
                "context": asdict(context),
                "hashes": [_hash_json(h) for h in hashes],
                "hits": [_hit_json(h) for h in decision.kept],
                "actions": decision.actions.to_json(),
                "sealed": sealed,
                "content": base64.b64encode(body).decode(),
            },
            separators=(",", ":"),
        )
        path = self.directory / f"{time.time_ns():020d}-{journal_id}{_SUFFIX}"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, (line + "\n").encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        _fsync_dir(self.directory)
        JOURNAL_SPOOLED.inc()
        return journal_id

    # --- replaying -------------------------------------------------------------------------

    def pending(self) -> list[Path]:
        """Spooled files, oldest first."""
        return sorted(p for p in self.directory.glob(f"*{_SUFFIX}") if p.is_file())

    def depth(self) -> int:
        return len(self.pending())

    def holds_customer(self, customer_id: str) -> bool:
        """Whether a match waiting here is for ``customer_id`` (its id is known to the
        service, though not yet to the database). Reads each record's context only; the
        content stays sealed. A file being replayed away, or unreadable, is skipped."""
        for path in self.pending():
            try:
                if json.loads(path.read_text())["context"]["customer_id"] == customer_id:
                    return True
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return False

    def read(self, path: Path) -> JournalRecord:
        """Raises ``ValueError`` for a file that is not a whole record (a crash mid-write)."""
        text = path.read_text()
        if not text.endswith("\n"):
            raise ValueError("truncated record")
        try:
            data = json.loads(text)
            journal_id = str(data["journal_id"])
            body = base64.b64decode(data["content"], validate=True)
            if data["sealed"]:
                if self._sealer is None:
                    raise ValueError("the content is sealed and no key was given")
                try:
                    body = self._sealer.open(_aad_id(journal_id), body)
                except Exception as exc:  # another key, or altered: a human must look
                    raise ValueError(f"the content does not unseal: {exc}") from None
            return JournalRecord(
                journal_id,
                float(data["spooled_unix"]),
                ScanContext(**data["context"]),
                tuple(_hash_from_json(h) for h in data["hashes"]),
                tuple(_hit_from_json(h) for h in data["hits"]),
                body,
                MatchActions.from_json(data["actions"]) if "actions" in data else None,
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed record: {exc.__class__.__name__}: {exc}") from None

    def replay_once(self, sink: JournalSink) -> int:
        """Record spooled matches oldest first until one fails; return how many were recorded.

        Raises ``RecordingFailed`` when the database still cannot take them."""
        done = 0
        with self._lock:
            for path in self.pending():
                try:
                    record = self.read(path)
                except (OSError, ValueError) as exc:
                    self._set_aside(path, str(exc))
                    continue
                try:
                    match_id = sink(record)
                except AlreadyRecorded as exc:
                    match_id = exc.match_id
                path.unlink()
                _fsync_dir(self.directory)
                done += 1
                log.info(
                    "spooled match recorded",
                    journal_id=record.journal_id,
                    match_id=match_id,
                    request_id=record.context.request_id,
                    spooled_seconds=round(time.time() - record.spooled_unix, 1),
                )
        return done

    def run_replay(
        self,
        sink: JournalSink,
        stop: threading.Event,
        poll_seconds: float = 1.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        """Replay until ``stop``: every ``poll_seconds`` when healthy, backing off while the
        database is away."""
        delay = backoff_base
        while not stop.is_set():
            try:
                self.replay_once(sink)
            except RecordingFailed as exc:
                log.warning(
                    "database still unavailable; spooled matches wait",
                    pending=self.depth(),
                    retry_in=round(delay, 1),
                    error=str(exc)[:300],
                )
                stop.wait(delay)
                delay = min(delay * 2, backoff_max)
                continue
            except Exception:  # a bug must not end replay; the files stay
                log.exception("journal replay failed")
                stop.wait(backoff_max)
                continue
            delay = backoff_base
            stop.wait(poll_seconds)

    def _set_aside(self, path: Path, reason: str) -> None:
        corrupt = self.directory / "corrupt"
        corrupt.mkdir(exist_ok=True, mode=0o700)
        path.rename(corrupt / path.name)
        _fsync_dir(self.directory)
        log.error("unreadable journal record set aside", file=str(corrupt / path.name), reason=reason)


def _aad_id(journal_id: str) -> int:
    # EvidenceBox binds ciphertext to an integer id; the journal id's 128 bits serve.
    return uuid.UUID(journal_id).int


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _hash_json(value: Hash) -> dict[str, Any]:
    return {
        "algorithm": str(value.algorithm),
        "hex": value.hex,
        "quality": value.quality,
        "frame": value.frame,
    }


def _hash_from_json(data: dict[str, Any]) -> Hash:
    value = Hash.from_hex(data["algorithm"], data["hex"], data["quality"])
    return Hash(value.algorithm, value.value, value.quality, int(data["frame"]))


def _hit_json(hit: MatchHit) -> dict[str, Any]:
    return {
        "list_id": hit.list_id,
        "list_name": hit.list_name,
        "entry_id": hit.entry_id,
        "algorithm": str(hit.algorithm),
        "distance": hit.distance,
        "threshold": hit.threshold,
        "query": _hash_json(hit.query),
        "variant": hit.variant,
        "action": hit.action,
    }


def _hit_from_json(data: dict[str, Any]) -> MatchHit:
    return MatchHit(
        int(data["list_id"]),
        str(data["list_name"]),
        int(data["entry_id"]),
        Algorithm(data["algorithm"]),
        int(data["distance"]),
        int(data["threshold"]),
        _hash_from_json(data["query"]),
        str(data.get("variant", "")),
        str(data.get("action", "block")),
    )
