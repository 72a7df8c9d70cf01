"""The append-only, hash-chained audit log.

Each record's ``hash`` is the SHA-256 of a canonical JSON of the record (id, time, actor,
action, subject, details) together with the previous record's hash, so editing, deleting or
reordering any record breaks the chain from that record on. Ids run 1, 2, 3 … without gaps
and the single ``audit_head`` row names the newest record, so deleting the newest records
shows too. ``verify`` walks the chain and names the first record that does not fit.

What the chain cannot show on its own: someone with write access to the database who rewrites
the whole chain from some record on. Keep the head (``hashwatch audit verify`` prints it)
somewhere the database's users cannot write, and check against it with ``--anchor``.

``record`` appends inside the caller's transaction, so an action and its audit record commit
together or not at all. Appenders take the head row's lock first (an UPDATE: a row lock on
PostgreSQL, the database write lock on SQLite), so two appends never share a parent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import Session

from reporting.db import session_factory
from reporting.models import AuditHead, AuditRecord, utcnow
from scanner.audit_service import AuditEntries, AuditEntry

GENESIS = "0" * 64
_HEAD_ID = 1
_VERIFY_BATCH = 1000


class AuditError(Exception):
    """The audit log cannot be appended to (no head row: the schema is not migrated)."""


def canonical(
    record_id: int, at: datetime, actor: str, action: str, subject: str, details: dict[str, Any]
) -> bytes:
    body = {
        "id": record_id,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def _plain_json(details: dict[str, Any]) -> dict[str, Any]:
    """The details exactly as they will read back from the database (so the hash still fits)."""
    try:
        text = json.dumps(details, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details must be plain JSON: {exc}") from None
    plain: dict[str, Any] = json.loads(text)
    return plain


def record(
    session: Session,
    actor: str,
    action: str,
    subject: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append one record inside ``session``'s transaction; it commits when the caller commits.

    The head row stays locked until then, so keep the rest of the transaction short."""
    if not actor or not action:
        raise ValueError("an audit record needs an actor and an action")
    details = _plain_json(details or {})
    # Microseconds are what both databases keep; the hash must cover what reads back.
    at = (at or utcnow()).astimezone(UTC)
    # Take the lock before reading the head: the UPDATE blocks until a concurrent appender commits.
    locked = session.execute(
        update(AuditHead).where(AuditHead.id == _HEAD_ID).values(last_id=AuditHead.last_id)
    )
    if locked.rowcount != 1:  # type: ignore[attr-defined]
        raise AuditError("the audit_head row is missing; run the migrations")
    head = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == _HEAD_ID)
    ).one()
    record_id = head.last_id + 1
    digest = chain_hash(head.last_hash, canonical(record_id, at, actor, action, subject, details))
    row = AuditRecord(
        id=record_id,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=head.last_hash,
        hash=digest,
    )
    session.add(row)
    session.flush()
    session.execute(
        update(AuditHead).where(AuditHead.id == _HEAD_ID).values(last_id=record_id, last_hash=digest)
    )
    return row


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_id: int
    head_hash: str
    # The first record that does not fit, and what is wrong with it.
    bad_id: int | None = None
    problem: str = ""
    anchors_checked: list[int] = field(default_factory=list)


def verify(bind: Engine | Connection, anchors: dict[int, str] | None = None) -> Verification:
    """Walk the chain from the first record; stop at the first problem.

    ``anchors`` maps record ids to hashes kept elsewhere; each must still be in the chain."""
    anchors = dict(anchors or {})
    with Session(bind) as session:
        head = session.get(AuditHead, _HEAD_ID)
        if head is None:
            return Verification(False, 0, 0, "", None, "the audit_head row is missing")
        head_id, head_hash = head.last_id, head.last_hash
        expected_id, prev_hash, checked = 1, GENESIS, 0
        checked_anchors: list[int] = []

        def bad(record_id: int, problem: str) -> Verification:
            return Verification(False, checked, head_id, head_hash, record_id, problem, checked_anchors)

        for row in _walk(session):
            if row.id != expected_id:
                if row.id < expected_id:
                    return bad(row.id, f"record {row.id} is out of order")
                return bad(expected_id, f"record {expected_id} is missing (deleted)")
            if row.prev_hash != prev_hash:
                return bad(row.id, f"record {row.id} does not follow record {row.id - 1}")
            body = canonical(row.id, row.at, row.actor, row.action, row.subject, row.details)
            if chain_hash(prev_hash, body) != row.hash:
                return bad(row.id, f"record {row.id} was changed after it was written")
            if row.id in anchors:
                if anchors.pop(row.id) != row.hash:
                    return bad(row.id, f"record {row.id} does not match its anchor")
                checked_anchors.append(row.id)
            prev_hash, expected_id, checked = row.hash, expected_id + 1, checked + 1
        last_id = expected_id - 1
        if last_id != head_id or prev_hash != head_hash:
            if last_id < head_id:
                return bad(last_id + 1, f"records {last_id + 1}..{head_id} are missing (deleted)")
            return bad(head_id + 1, f"records after {head_id} are not in the head (head rewritten?)")
        if anchors:
            first = min(anchors)
            return bad(first, f"anchored record {first} is not in the log")
        return Verification(True, checked, head_id, head_hash, anchors_checked=checked_anchors)


def _walk(session: Session) -> Iterator[AuditRecord]:
    after = 0
    while True:
        batch = session.scalars(
            select(AuditRecord).where(AuditRecord.id > after).order_by(AuditRecord.id).limit(_VERIFY_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id
        session.expunge_all()


class AuditLog:
    """Reads and appends to the audit log (``scanner.audit_service.AuditReader``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def entries(self, limit: int, before_id: int = 0, action: str = "", actor: str = "") -> AuditEntries:
        limit = max(1, min(limit, 1000))
        query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit + 1)
        if before_id > 0:
            query = query.where(AuditRecord.id < before_id)
        if action:
            query = query.where(AuditRecord.action == action)
        if actor:
            query = query.where(AuditRecord.actor == actor)
        with self._sessions() as session:
            rows = list(session.scalars(query))
        more = len(rows) > limit
        entries = [
            AuditEntry(r.id, r.at, r.actor, r.action, r.subject, r.details, r.prev_hash, r.hash)
            for r in rows[:limit]
        ]
        return AuditEntries(entries, entries[-1].id if more else 0)

    def append(
        self, actor: str, action: str, subject: str = "", details: dict[str, Any] | None = None
    ) -> int:
        """Append one record in its own transaction."""
        with self._sessions.begin() as session:
            return record(session, actor, action, subject, details).id
