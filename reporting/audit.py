"""The append-only, hash-chained audit log.

Each record's ``hash`` is the SHA-256 of a canonical JSON of the record (id, time, actor,
action, subject, details) together with the previous record's hash, so editing, deleting or
reordering any record breaks the chain from that record on. Ids run 1, 2, 3 … without gaps
and the single ``audit_head`` row names the newest record, so deleting the newest records
shows too. ``verify`` walks the chain and names the first record that does not fit.

What the chain cannot show on its own: someone with write access to the database who rewrites
the chain from some record on, or deletes the newest records and moves the head back. Appends
made through an engine with a seal (``reporting.audit_seal``) therefore also carry an HMAC under
a key the database does not hold, and leave an anchor outside the database; ``verify`` checks
both when it has the seal. A head copied elsewhere (``--anchor``) is checked the same way.

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

from reporting.audit_seal import Anchor, AnchorError, AuditSeal, anchor_after_commit, seal_of, use_seal
from reporting.db import session_factory
from reporting.models import AuditHead, AuditRecord, utcnow
from scanner.auditlog import AuditEntries, AuditEntry

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
        select(AuditHead.last_id, AuditHead.last_hash, AuditHead.mac).where(AuditHead.id == _HEAD_ID)
    ).one()
    record_id = head.last_id + 1
    digest = chain_hash(head.last_hash, canonical(record_id, at, actor, action, subject, details))
    seal = seal_of(session.get_bind())
    if seal is not None:
        seal.notice_head(head.last_id, head.last_hash, head.mac)
    row = AuditRecord(
        id=record_id,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=head.last_hash,
        hash=digest,
        mac=seal.record_mac(digest) if seal else None,
    )
    session.add(row)
    session.flush()
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == _HEAD_ID)
        .values(last_id=record_id, last_hash=digest, mac=seal.head_mac(record_id, digest) if seal else None)
    )
    if seal is not None:
        anchor_after_commit(session, seal, Anchor(record_id, digest))
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
    # Checked with the audit key (the MACs), and how many of the first records predate it.
    sealed: bool = False
    unsealed_records: int = 0
    # The log is intact but nothing in it carries the key's MAC yet (``seal`` fixes that).
    unsealed: bool = False


def verify(
    bind: Engine | Connection,
    anchors: dict[int, str] | None = None,
    seal: AuditSeal | None = None,
    anchor_sources: dict[str, Anchor] | None = None,
) -> Verification:
    """Walk the chain from the first record; stop at the first problem.

    ``anchors`` maps record ids to hashes kept elsewhere, ``anchor_sources`` names more (say,
    anchor files of other servers); each must still be in the chain. With a seal (given, or the
    one ``bind``'s engine appends with) the MACs are checked too, and the seal's anchor file."""
    seal = seal or seal_of(bind)
    expected = {i: (h.lower(), "the anchor") for i, h in (anchors or {}).items()}
    sources = dict(anchor_sources or {})
    if seal is not None and seal.anchor_path is not None:
        try:
            local = seal.anchor()
        except AnchorError as exc:
            return Verification(False, 0, 0, "", None, str(exc))
        if local is not None:
            sources[str(seal.anchor_path)] = local
    for source, anchor in sources.items():
        if anchor.id in expected and expected[anchor.id][0] != anchor.hash:
            return Verification(False, 0, 0, "", anchor.id, f"the anchors disagree about record {anchor.id}")
        expected.setdefault(anchor.id, (anchor.hash, source))
    with Session(bind) as session:
        head = session.get(AuditHead, _HEAD_ID)
        if head is None:
            return Verification(False, 0, 0, "", None, "the audit_head row is missing")
        return _Walk(head, expected, seal).run(session)


class _Walk:
    def __init__(self, head: AuditHead, anchors: dict[int, tuple[str, str]], seal: AuditSeal | None) -> None:
        self.head_id, self.head_hash, self.head_mac = head.last_id, head.last_hash, head.mac
        self.anchors = anchors
        self.seal = seal
        self.checked = 0
        self.checked_anchors: list[int] = []
        # The first record that carries a MAC (None: none so far).
        self.keyed_from: int | None = None

    def bad(self, record_id: int | None, problem: str) -> Verification:
        return Verification(
            False,
            self.checked,
            self.head_id,
            self.head_hash,
            record_id,
            problem,
            self.checked_anchors,
            self.seal is not None,
            self.unsealed_count(),
        )

    def unsealed_count(self) -> int:
        if self.seal is None:
            return 0
        return self.checked if self.keyed_from is None else self.keyed_from - 1

    def run(self, session: Session) -> Verification:
        expected_id, prev_hash = 1, GENESIS
        for row in _walk(session):
            if row.id != expected_id:
                if row.id < expected_id:
                    return self.bad(row.id, f"record {row.id} is out of order")
                return self.bad(expected_id, f"record {expected_id} is missing (deleted)")
            problem = self.record_problem(row, prev_hash)
            if problem:
                return self.bad(row.id, problem)
            prev_hash, expected_id, self.checked = row.hash, expected_id + 1, self.checked + 1
        last_id = expected_id - 1
        if last_id != self.head_id or prev_hash != self.head_hash:
            if last_id < self.head_id:
                return self.bad(last_id + 1, f"{_missing(last_id + 1, self.head_id)} (deleted)")
            return self.bad(
                self.head_id + 1, f"records after {self.head_id} are not in the head (head rewritten?)"
            )
        if self.anchors:
            # Anchors past the end: the newest records were deleted and the head moved back.
            newest = max(self.anchors)
            source = self.anchors[newest][1]
            return self.bad(
                last_id + 1,
                f"{_missing(last_id + 1, newest)}: {source} says record {newest} was written "
                "(the newest records were deleted and the head moved back)",
            )
        problem = self.head_problem()
        if problem:
            return self.bad(self.head_id, problem)
        unsealed = self.seal is not None and self.keyed_from is None and self.head_id > 0
        return Verification(
            True,
            self.checked,
            self.head_id,
            self.head_hash,
            anchors_checked=self.checked_anchors,
            sealed=self.seal is not None,
            unsealed_records=self.unsealed_count(),
            unsealed=unsealed,
        )

    def record_problem(self, row: AuditRecord, prev_hash: str) -> str:
        if row.prev_hash != prev_hash:
            return f"record {row.id} does not follow record {row.id - 1}"
        body = canonical(row.id, row.at, row.actor, row.action, row.subject, row.details)
        if chain_hash(prev_hash, body) != row.hash:
            return f"record {row.id} was changed after it was written"
        if row.id in self.anchors:
            digest, source = self.anchors.pop(row.id)
            if digest != row.hash:
                return f"record {row.id} does not match {source} (rewritten since)"
            self.checked_anchors.append(row.id)
        if self.seal is None:
            return ""
        if row.mac is None:
            if self.keyed_from is not None:
                return (
                    f"record {row.id} carries no MAC although record {self.keyed_from} does "
                    "(written without the audit key, or its MAC removed)"
                )
        elif not self.seal.matches(self.seal.record_mac(row.hash), row.mac):
            return (
                f"record {row.id} does not carry the audit key's MAC (rewritten, or written with another key)"
            )
        elif self.keyed_from is None:
            self.keyed_from = row.id
        return ""

    def head_problem(self) -> str:
        if self.seal is None:
            return ""
        if self.head_mac is None:
            if self.keyed_from is not None:
                return (
                    f"the head (record {self.head_id}) carries no MAC although records do "
                    "(moved without the key)"
                )
            return ""
        if self.keyed_from is None and self.head_id > 0:
            return "the head carries a MAC but no record does (the records' MACs were removed)"
        if not self.seal.matches(self.seal.head_mac(self.head_id, self.head_hash), self.head_mac):
            return (
                f"the head (record {self.head_id}) is not one the audit key sealed: the newest records "
                "were deleted and the head moved back, or it was rewritten (or another key is in use)"
            )
        return ""


def _missing(first: int, last: int) -> str:
    return f"record {first} is missing" if first == last else f"records {first}..{last} are missing"


def seal_engine(engine: Engine, seal: AuditSeal) -> None:
    """Seal every append made through ``engine`` with ``seal`` (``scanner.app.open_store``)."""
    use_seal(engine, seal)


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
    """Reads and appends to the audit log (``scanner.rpc.audit_service.AuditReader``)."""

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
