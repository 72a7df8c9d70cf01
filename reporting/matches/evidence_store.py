"""Reading preserved evidence (every read recorded) and purging it after its period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from reporting import audit, models
from reporting.db import session_factory
from reporting.matches.evidence import EvidenceBox


class EvidenceUnavailable(Exception):
    pass


@dataclass(frozen=True)
class EvidenceView:
    id: int
    match_id: int
    sha256: str
    size: int
    content_type: str
    created_at: datetime
    preserve_until: datetime
    purged: bool


class EvidenceStore:
    def __init__(self, engine: Engine, box: EvidenceBox | None) -> None:
        self._sessions = session_factory(engine)
        self._box = box

    def describe(self, match_id: int) -> EvidenceView | None:
        with self._sessions() as session:
            row = session.scalar(select(models.Evidence).where(models.Evidence.match_id == match_id))
            if row is None:
                return None
            return EvidenceView(
                row.id,
                row.match_id,
                row.sha256,
                row.size,
                row.content_type,
                row.created_at,
                row.preserve_until,
                row.ciphertext is None,
            )

    def read(self, match_id: int, actor: str, purpose: str) -> bytes:
        """The preserved bytes. The access is recorded in the same transaction as the read, so
        there is no read without its record."""
        if not actor or not purpose:
            raise ValueError("reading evidence needs an actor and a purpose")
        if self._box is None:
            raise EvidenceUnavailable("no evidence key configured")
        with self._sessions.begin() as session:
            row = session.scalar(select(models.Evidence).where(models.Evidence.match_id == match_id))
            if row is None:
                raise EvidenceUnavailable(f"no evidence preserved for match {match_id}")
            if row.ciphertext is None:
                raise EvidenceUnavailable(f"evidence for match {match_id} was purged on {row.purged_at}")
            if row.key_id != self._box.key_id:
                raise EvidenceUnavailable(f"evidence for match {match_id} was sealed with key {row.key_id}")
            session.add(models.EvidenceAccess(evidence_id=row.id, actor=actor, purpose=purpose))
            audit.record(session, actor, "evidence.read", f"match:{match_id}", {"purpose": purpose})
            return self._box.open(match_id, row.ciphertext)

    def accesses(self, match_id: int) -> list[tuple[str, str, datetime]]:
        with self._sessions() as session:
            rows = session.execute(
                select(
                    models.EvidenceAccess.actor,
                    models.EvidenceAccess.purpose,
                    models.EvidenceAccess.accessed_at,
                )
                .join(models.Evidence, models.Evidence.id == models.EvidenceAccess.evidence_id)
                .where(models.Evidence.match_id == match_id)
                .order_by(models.EvidenceAccess.id)
            )
            return [(a, p, t) for a, p, t in rows]

    def purge_expired(self, now: datetime | None = None) -> int:
        """Drop the ciphertext of evidence past its preservation date; the record stays."""
        moment = now or models.utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(models.Evidence)
                .where(models.Evidence.preserve_until < moment, models.Evidence.ciphertext.is_not(None))
                .values(ciphertext=None, purged_at=moment)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
