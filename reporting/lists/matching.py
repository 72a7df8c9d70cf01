"""A list's matching policy (kind, review band, combination) and flood holds, in the database.

Every change takes the list's next version (``list_changes.bump_version``), so running servers
pick it up on their next poll like any other list change; ``scanner.decision`` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from index.hashes import Algorithm
from index.matcher import DEFAULT_THRESHOLDS, Combine, ListKind, MatchHit
from reporting import audit, models
from reporting.db import session_factory
from reporting.lists.changes import bump_version

HELD = "review_held"


@dataclass(frozen=True)
class MatchingPolicy:
    kind: str
    thresholds: dict[str, int]
    review: dict[str, int]
    combine: str


@dataclass(frozen=True)
class HoldView:
    id: int
    list_name: str
    entry_id: int
    external_id: str
    state: str
    held_at: datetime
    match_id: int | None
    released_at: datetime | None
    released_by: str


class MatchingAdmin:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def set_matching(
        self,
        list_name: str,
        *,
        kind: str | None = None,
        review: Mapping[str, int] | None = None,
        combine: str | None = None,
        actor: str = "system",
    ) -> MatchingPolicy:
        """Change a list's kind, review band (merged per algorithm; 0 removes an algorithm's
        band) or combination; checked against the list's thresholds."""
        with self._sessions.begin() as session:
            row = _list(session, list_name)
            before = _policy(row)
            if kind is not None:
                row.kind = str(ListKind(kind))
            if combine is not None:
                row.combine = str(Combine(combine))
            if review is not None:
                merged = dict(row.review or {})
                for name, value in review.items():
                    algorithm = Algorithm(name)
                    if not 0 <= int(value) <= algorithm.bits:
                        raise ValueError(f"{algorithm} review band must end between 0 and {algorithm.bits}")
                    if int(value) == 0:
                        merged.pop(str(algorithm), None)
                        continue
                    threshold = int(row.thresholds.get(str(algorithm), DEFAULT_THRESHOLDS[algorithm]))
                    if int(value) <= threshold:
                        raise ValueError(
                            f"{algorithm} review band must end above the threshold ({threshold}), got {value}"
                        )
                    merged[str(algorithm)] = int(value)
                row.review = merged
            after = _policy(row)
            audit.record(
                session, actor, "list.matching", list_name, {"before": asdict(before), "after": asdict(after)}
            )
            bump_version(session, row.id)
            return after

    def matching(self, list_name: str) -> MatchingPolicy:
        with self._sessions() as session:
            return _policy(_list(session, list_name))

    def holds(self, state: str | None = "held") -> list[HoldView]:
        with self._sessions() as session:
            query = (
                select(models.EntryHold, models.HashList.name, models.ListEntry.external_id)
                .join(models.HashList, models.HashList.id == models.EntryHold.list_id)
                .join(models.ListEntry, models.ListEntry.id == models.EntryHold.entry_id)
                .order_by(models.EntryHold.id)
            )
            if state is not None:
                query = query.where(models.EntryHold.state == state)
            return [
                HoldView(
                    hold.id,
                    name,
                    hold.entry_id,
                    external_id,
                    hold.state,
                    hold.held_at,
                    hold.match_id,
                    hold.released_at,
                    hold.released_by,
                )
                for hold, name, external_id in session.execute(query)
            ]

    def release(self, entry_id: int, actor: str = "system") -> HoldView:
        """End the hold on an entry: its hits block again (servers follow on their next poll,
        and count it afresh)."""
        with self._sessions.begin() as session:
            hold = session.scalar(
                select(models.EntryHold).where(
                    models.EntryHold.entry_id == entry_id, models.EntryHold.state == "held"
                )
            )
            if hold is None:
                raise LookupError(f"entry {entry_id} is not held")
            hold.state, hold.released_at, hold.released_by = "released", models.utcnow(), actor
            list_name = session.scalar(select(models.HashList.name).where(models.HashList.id == hold.list_id))
            audit.record(session, actor, "list.release", str(list_name), {"entry_id": entry_id})
            bump_version(session, hold.list_id)
            session.flush()
            return HoldView(
                hold.id,
                str(list_name),
                entry_id,
                "",
                hold.state,
                hold.held_at,
                hold.match_id,
                hold.released_at,
                hold.released_by,
            )


def hold_entries(session: Session, match_id: int, hits: Sequence[MatchHit]) -> int:
    """Store the holds of hits flood protection held, inside the match's transaction; returns
    how many are new. Each new hold is a new version of its list, so every server holds it."""
    new = 0
    for hit in hits:
        if hit.action != HELD:
            continue
        existing = session.scalar(
            select(models.EntryHold.id).where(
                models.EntryHold.entry_id == hit.entry_id, models.EntryHold.state == "held"
            )
        )
        if existing is not None:
            continue
        session.add(
            models.EntryHold(list_id=hit.list_id, entry_id=hit.entry_id, match_id=match_id, state="held")
        )
        audit.record(session, "flood-protection", "list.hold", hit.list_name, {"entry_id": hit.entry_id})
        bump_version(session, hit.list_id)
        new += 1
    return new


def _list(session: Session, list_name: str) -> models.HashList:
    row = session.scalar(select(models.HashList).where(models.HashList.name == list_name))
    if row is None:
        raise LookupError(f"no list named {list_name!r}")
    return row


def _policy(row: models.HashList) -> MatchingPolicy:
    return MatchingPolicy(
        row.kind or str(ListKind.MATCH),
        {str(k): int(v) for k, v in row.thresholds.items()},
        {str(k): int(v) for k, v in (row.review or {}).items()},
        row.combine or str(Combine.ANY),
    )
