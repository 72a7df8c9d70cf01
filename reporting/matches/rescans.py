"""The database side of rescans: content already recorded by a rescan, and the scan hash log.

``scanner.rescan`` sees this only through the protocols in ``scanner.rescan.ports``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, ListKind
from reporting import models
from reporting.db import session_factory
from reporting.lists.changes import held_entries, list_config
from reporting.store import Store
from scanner.decision import Decision
from scanner.recording import RecordingFailed, ScanContext
from scanner.rescan.ports import LoggedScan


def seen_key(customer_id: str, url: str, content_sha256: str) -> str:
    return hashlib.sha256(f"{customer_id}\0{url}\0{content_sha256}".encode()).hexdigest()


class RescanStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = session_factory(store.engine)

    # --- recording once ----------------------------------------------------------------------

    def already_recorded(self, customer_id: str, url: str, content_sha256: str) -> bool:
        key = seen_key(customer_id, url, content_sha256)
        with self._sessions() as session:
            return (
                session.scalar(select(models.RescanSeen.id).where(models.RescanSeen.key == key)) is not None
            )

    def record_once(
        self,
        context: ScanContext,
        content_sha256: str,
        hashes: Sequence[Hash],
        decision: Decision,
        content: bytes,
    ) -> int | None:
        """Record the match unless this (customer, URL, content) was recorded by a rescan before;
        the marker is written in the match's own transaction, so a crash leaves both or neither.
        Returns the new match id, or None when it was already recorded."""
        if self.already_recorded(context.customer_id, context.url, content_sha256):
            return None
        key = seen_key(context.customer_id, context.url, content_sha256)

        def mark(session: Session, match_id: int) -> None:
            session.add(
                models.RescanSeen(
                    key=key,
                    customer_id=context.customer_id,
                    url=context.url,
                    content_sha256=content_sha256,
                    match_id=match_id,
                )
            )
            session.flush()

        try:
            return self.store.record_match(context, hashes, decision, content, also=mark)
        except RecordingFailed:
            # Another run recorded it between the check and the insert: the unique key refused ours.
            if self.already_recorded(context.customer_id, context.url, content_sha256):
                return None
            raise

    # --- the hash log ------------------------------------------------------------------------

    def write_hash_log(self, rows: Sequence[LoggedScan]) -> None:
        if not rows:
            return
        with self._sessions.begin() as session:
            session.execute(
                insert(models.ScanHashLog),
                [
                    {
                        "customer_id": row.customer_id,
                        "url": row.url,
                        "content_sha256": row.content_sha256,
                        "hashes": [_hash_json(h) for h in row.hashes],
                        "scanned_at": row.scanned_at,
                        "matched": row.matched,
                    }
                    for row in rows
                ],
            )

    def purge_hash_log(self, older_than: datetime) -> int:
        with self._sessions.begin() as session:
            result = session.execute(
                delete(models.ScanHashLog).where(models.ScanHashLog.scanned_at < older_than)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def hash_log_size(self, customer_id: str | None = None) -> int:
        """Logged scans a stored rescan would go through (the unmatched ones)."""
        with self._sessions() as session:
            query = (
                select(func.count())
                .select_from(models.ScanHashLog)
                .where(models.ScanHashLog.matched.is_(False))
            )
            if customer_id is not None:
                query = query.where(models.ScanHashLog.customer_id == customer_id)
            return int(session.scalar(query) or 0)

    def logged_scans(self, customer_id: str | None = None, batch: int = 2000) -> Iterator[LoggedScan]:
        """Every logged scan the service did not match when it scanned it (that match is
        recorded already), oldest first, read in batches by id."""
        last = 0
        while True:
            with self._sessions() as session:
                query = (
                    select(models.ScanHashLog)
                    .where(models.ScanHashLog.id > last, models.ScanHashLog.matched.is_(False))
                    .order_by(models.ScanHashLog.id)
                    .limit(batch)
                )
                if customer_id is not None:
                    query = query.where(models.ScanHashLog.customer_id == customer_id)
                rows = list(session.scalars(query))
            if not rows:
                return
            for row in rows:
                yield LoggedScan(
                    row.customer_id,
                    row.url,
                    row.content_sha256,
                    tuple(_hash_from_json(h) for h in row.hashes),
                    row.scanned_at,
                    row.id,
                    row.matched,
                )
            last = rows[-1].id

    def entries_added_since(self, since: datetime) -> list[tuple[ListConfig, list[tuple[int, Hash]]]]:
        """Like ``Store.matcher_inputs``, but only the active entries added at or after ``since``;
        negative lists whole (a known-benign entry suppresses however old it is), and each
        list's flood holds, so a re-match is decided as a scan would be."""
        inputs = []
        with self._sessions() as session:
            held = held_entries(session)
            for row in session.scalars(select(models.HashList).where(models.HashList.enabled.is_(True))):
                config = list_config(row, held.get(row.id, frozenset()))
                entry = models.ListEntry
                query = select(entry.id, entry.algorithm, entry.hash_hex).where(
                    entry.list_id == row.id, entry.status == "active"
                )
                if config.kind is not ListKind.NEGATIVE:
                    query = query.where(entry.added_at >= since)
                entries = [
                    (entry_id, Hash.from_hex(algorithm, hex_value))
                    for entry_id, algorithm, hex_value in session.execute(query)
                ]
                if entries:
                    inputs.append((config, entries))
        return inputs

    def newest_entry_added_at(self) -> datetime | None:
        with self._sessions() as session:
            value: datetime | None = session.scalar(select(func.max(models.ListEntry.added_at)))
            return value


def hash_log_cutoff(days: int, now: datetime) -> datetime:
    return now - timedelta(days=days)


def _hash_json(value: Hash) -> list[Any]:
    return [str(value.algorithm), value.hex, value.quality, value.frame]


def _hash_from_json(item: list[Any]) -> Hash:
    algorithm, hex_value, quality, frame = item
    parsed = Hash.from_hex(Algorithm(algorithm), hex_value, quality)
    return Hash(parsed.algorithm, parsed.value, parsed.quality, int(frame))
