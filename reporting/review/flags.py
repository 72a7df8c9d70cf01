"""List entries a false positive flagged, and the decision on each: back in, or out for good.

A false positive flags the active entries its case hit (``flag_entries``): their status becomes
``flagged`` as a new version of the list (``reporting.lists.changes``), so running servers drop
them in place on their next poll and index builds (``active`` entries only) leave them out. An
``entry_flags`` row waits for someone to decide (``EntryFlags.decide``). An admin confirming
that case after all restores its flags (``restore_flags``). Both run inside the decision's
transaction; ``on_lists_changed`` lets this process apply a restored entry at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from reporting import audit, models
from reporting.db import session_factory
from reporting.lists.changes import set_entry_status
from reporting.review.errors import CaseNotFound, InvalidReview, check_text
from reporting.review.values import ALL, FlagView


class EntryFlags:
    def __init__(self, engine: Engine, on_lists_changed: Callable[[], object] | None = None) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        # Called after a restored entry became active again (the server reloads).
        self.on_lists_changed = on_lists_changed

    def in_state(self, state: str = "open") -> list[FlagView]:
        """Entries a false positive flagged (``open``: still waiting for someone to decide)."""
        query = (
            select(models.EntryFlag, models.HashList.name, models.ListEntry)
            .join(models.HashList, models.HashList.id == models.EntryFlag.list_id)
            .join(models.ListEntry, models.ListEntry.id == models.EntryFlag.entry_id)
            .order_by(models.EntryFlag.id)
        )
        if state != ALL:
            query = query.where(models.EntryFlag.state == state)
        with self._sessions() as session:
            return [FlagView.of(flag, name, entry) for flag, name, entry in session.execute(query)]

    def decide(self, flag_id: int, outcome: str, actor: str, note: str = "") -> FlagView:
        """``restore``: the entry matches again; ``disable``: it stays out of the index for good."""
        if outcome not in ("restore", "disable"):
            raise InvalidReview("decide a flag with restore or disable")
        if not actor:
            raise InvalidReview("a flag decision needs an actor")
        check_text("note", note, multiline=True)
        now = models.utcnow()
        with self._sessions.begin() as session:
            flag = session.get(models.EntryFlag, flag_id)
            if flag is None:
                raise CaseNotFound(f"no entry flag {flag_id}")
            if flag.state != "open":
                raise InvalidReview(f"entry flag {flag_id} was already decided ({flag.state})")
            entry = session.get(models.ListEntry, flag.entry_id)
            assert entry is not None  # RESTRICT: an entry with flags cannot be deleted
            status = entry.status
            open_flags = session.scalars(
                select(models.EntryFlag).where(
                    models.EntryFlag.entry_id == entry.id, models.EntryFlag.state == "open"
                )
            ).all()
            # One decision settles the entry: every open flag on it closes with it.
            for other in open_flags:
                other.state = "restored" if outcome == "restore" else "disabled"
                other.decided_by, other.decided_at = actor, now
            session.flush()
            if status == "flagged":
                new_status = flag.previous_status if outcome == "restore" else "disabled"
                set_entry_status(session, entry.list_id, [entry.id], new_status)
            audit.record(
                session,
                actor,
                f"entry_flag.{outcome}",
                f"entry:{entry.id}",
                {"flags": [f.id for f in open_flags], "list_id": entry.list_id, "note": note},
                at=now,
            )
            hash_list = session.get(models.HashList, entry.list_id)
            view = FlagView.of(flag, hash_list.name if hash_list else "", entry)
        if outcome == "restore" and self.on_lists_changed is not None:
            self.on_lists_changed()
        return view


def flag_entries(session: Session, match_id: int, actor: str, now: datetime) -> list[int]:
    """Flag the active entries the case hit: one new version of each list, so running servers
    drop them in place (``reporting.lists.changes``)."""
    by_list: dict[int, list[int]] = {}
    for hit in session.scalars(select(models.MatchHit).where(models.MatchHit.match_id == match_id)):
        entry = session.get(models.ListEntry, hit.entry_id)
        if entry is None or entry.status != "active" or entry.id in by_list.get(entry.list_id, []):
            continue
        session.add(
            models.EntryFlag(
                entry_id=entry.id,
                list_id=entry.list_id,
                match_id=match_id,
                flagged_by=actor,
                flagged_at=now,
                previous_status=entry.status,
                state="open",
                decided_by="",
            )
        )
        by_list.setdefault(entry.list_id, []).append(entry.id)
    session.flush()
    for list_id, entry_ids in by_list.items():
        set_entry_status(session, list_id, entry_ids, "flagged")
    return sorted(i for ids in by_list.values() for i in ids)


def restore_flags(session: Session, match_id: int, actor: str, now: datetime) -> list[int]:
    """An admin confirming a case once called a false positive: its flags were wrong."""
    by_list: dict[tuple[int, str], list[int]] = {}
    flags = session.scalars(
        select(models.EntryFlag).where(
            models.EntryFlag.match_id == match_id, models.EntryFlag.state == "open"
        )
    ).all()
    for flag in flags:
        flag.state, flag.decided_by, flag.decided_at = "restored", actor, now
        others = session.scalar(
            select(func.count(models.EntryFlag.id)).where(
                models.EntryFlag.entry_id == flag.entry_id,
                models.EntryFlag.state == "open",
                models.EntryFlag.id != flag.id,
            )
        )
        status = session.scalar(select(models.ListEntry.status).where(models.ListEntry.id == flag.entry_id))
        if status == "flagged" and not others:
            by_list.setdefault((flag.list_id, flag.previous_status), []).append(flag.entry_id)
    session.flush()
    for (list_id, previous), entry_ids in by_list.items():
        set_entry_status(session, list_id, entry_ids, previous)
    return sorted(i for ids in by_list.values() for i in ids)
