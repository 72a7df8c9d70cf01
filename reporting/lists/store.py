"""The lists half of the database: creating lists, importing entries, their policy, listing them,
and what the matcher is built from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, ListKind
from index.policy import ActionPolicy
from reporting import audit, models
from reporting.db import session_factory
from reporting.lists import policy
from reporting.lists.changes import bump_version, held_entries, list_config

_IMPORT_BATCH = 5000


@dataclass(frozen=True)
class NewEntry:
    hash: Hash
    external_id: str = ""
    note: str = ""


@dataclass(frozen=True)
class ListInfo:
    id: int
    name: str
    source: str
    enabled: bool
    thresholds: dict[str, int]
    entries: dict[str, int]
    created_at: datetime
    # "match" or "negative"; the review band per algorithm; "any" or "at_least_two".
    kind: str = "match"
    review: dict[str, int] = field(default_factory=dict)
    combine: str = "any"
    # Active PDQ entries of quality below 50, and entries held by flood protection.
    low_quality: int = 0
    held: int = 0
    # The algorithms whose entries decide (the policy's ``decide``); other entries never match.
    decide: tuple[str, ...] = tuple(ActionPolicy().to_json()["decide"])


@dataclass(frozen=True)
class ImportResult:
    list_name: str
    added: int
    duplicates: int
    # Of those added: PDQ entries of quality below 50, flagged (``ListEntry.low_quality``).
    low_quality: int = 0


class ListStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def ensure_list(
        self, name: str, source: str = "", thresholds: dict[str, int] | None = None, kind: str = "match"
    ) -> ListInfo:
        """The list, created if missing (of ``kind``: "match" or "negative")."""
        with self._sessions.begin() as session:
            row = session.scalar(select(models.HashList).where(models.HashList.name == name))
            if row is None:
                row = models.HashList(
                    name=name,
                    source=source,
                    thresholds=_check_thresholds(thresholds or {}),
                    kind=str(ListKind(kind)),
                )
                session.add(row)
                session.flush()
            elif thresholds:
                row.thresholds = {**row.thresholds, **_check_thresholds(thresholds)}
                row.version += 1
        return next(info for info in self.lists() if info.name == name)

    def import_entries(
        self, list_name: str, entries: Iterable[NewEntry], source: str = "", actor: str = "system"
    ) -> ImportResult:
        """Add entries to a list (created if missing) in one transaction. Hashes the list already
        holds, and repeats within ``entries``, are counted as duplicates and not added again."""
        added = duplicates = 0
        with self._sessions.begin() as session:
            hash_list = session.scalar(select(models.HashList).where(models.HashList.name == list_name))
            if hash_list is None:
                hash_list = models.HashList(name=list_name, source=source, thresholds={})
                session.add(hash_list)
                session.flush()
            # Taking the next version locks the list's row until commit: imports into one list
            # commit in version order, which is what lets servers follow changes incrementally.
            version = bump_version(session, hash_list.id)
            # Duplicates, of the list's entries and within ``entries``, are left to the
            # (list, algorithm, hash) unique index (INSERT ... ON CONFLICT DO NOTHING): nothing
            # reads the list's existing keys, so adding 10 000 entries to a 10 M-entry list
            # costs 10 000 inserts. What was added is counted afterwards by the fresh version,
            # which only this transaction's rows carry (it holds the list's row lock).
            submitted = 0
            batch: list[dict[str, Any]] = []
            for entry in entries:
                batch.append(
                    {
                        "list_id": hash_list.id,
                        "algorithm": str(entry.hash.algorithm),
                        "hash_hex": entry.hash.hex,
                        "quality": entry.hash.quality,
                        "low_quality": not entry.hash.trustworthy,
                        "external_id": entry.external_id,
                        "note": entry.note,
                        "status": "active",
                        "added_at": models.utcnow(),
                        "changed_version": version,
                    }
                )
                if len(batch) >= _IMPORT_BATCH:
                    _insert_new(session, batch)
                    submitted += len(batch)
                    batch = []
            if batch:
                _insert_new(session, batch)
                submitted += len(batch)
            added = int(
                session.scalar(
                    select(func.count())
                    .select_from(models.ListEntry)
                    .where(
                        models.ListEntry.list_id == hash_list.id, models.ListEntry.changed_version == version
                    )
                )
                or 0
            )
            duplicates = submitted - added
            low_quality = int(
                session.scalar(
                    select(func.count())
                    .select_from(models.ListEntry)
                    .where(
                        models.ListEntry.list_id == hash_list.id,
                        models.ListEntry.changed_version == version,
                        models.ListEntry.low_quality.is_(True),
                    )
                )
                or 0
            )
            hash_list.updated_at = models.utcnow()
            audit.record(
                session,
                actor,
                "list.import",
                list_name,
                {
                    "added": added,
                    "duplicates": duplicates,
                    "low_quality": low_quality,
                    "source": source,
                    "version": version,
                },
            )
        return ImportResult(list_name, added, duplicates, low_quality)

    def set_policy(self, list_name: str, changes: dict[str, Any], actor: str = "system") -> ActionPolicy:
        """Change a list's policy (``reporting.lists.policy.set_policy``): a new list version,
        which running servers follow."""
        with self._sessions.begin() as session:
            return policy.set_policy(session, list_name, changes, actor)

    def lists(self) -> list[ListInfo]:
        with self._sessions() as session:
            counts: dict[int, dict[str, int]] = {}
            for list_id, algorithm, count in session.execute(
                select(models.ListEntry.list_id, models.ListEntry.algorithm, func.count())
                .where(models.ListEntry.status == "active")
                .group_by(models.ListEntry.list_id, models.ListEntry.algorithm)
            ):
                counts.setdefault(list_id, {})[algorithm] = count
            low: dict[int, int] = {
                list_id: count
                for list_id, count in session.execute(
                    select(models.ListEntry.list_id, func.count())
                    .where(models.ListEntry.status == "active", models.ListEntry.low_quality.is_(True))
                    .group_by(models.ListEntry.list_id)
                )
            }
            holds = held_entries(session)
            return [
                ListInfo(
                    row.id,
                    row.name,
                    row.source,
                    row.enabled,
                    dict(row.thresholds),
                    counts.get(row.id, {}),
                    row.created_at,
                    row.kind,
                    dict(row.review or {}),
                    row.combine,
                    int(low.get(row.id, 0)),
                    len(holds.get(row.id, ())),
                    tuple(ActionPolicy.from_json(row.policy or {}).to_json()["decide"]),
                )
                for row in session.scalars(select(models.HashList).order_by(models.HashList.name))
            ]

    def list_configs(self) -> dict[int, ListConfig]:
        """Every enabled list's config (its policy and holds included), without its entries."""
        with self._sessions() as session:
            holds = held_entries(session)
            return {
                row.id: list_config(row, holds.get(row.id, frozenset()))
                for row in session.scalars(select(models.HashList).where(models.HashList.enabled.is_(True)))
            }

    def matcher_inputs(self) -> list[tuple[ListConfig, list[tuple[int, Hash]]]]:
        """Every enabled list with its active entries, ready for ``index.matcher.Matcher``."""
        result = []
        with self._sessions() as session:
            holds = held_entries(session)
            for row in session.scalars(select(models.HashList).where(models.HashList.enabled.is_(True))):
                config = list_config(row, holds.get(row.id, frozenset()))
                entries = [
                    (entry_id, Hash.from_hex(algorithm, hex_value))
                    for entry_id, algorithm, hex_value in session.execute(
                        select(
                            models.ListEntry.id, models.ListEntry.algorithm, models.ListEntry.hash_hex
                        ).where(models.ListEntry.list_id == row.id, models.ListEntry.status == "active")
                    )
                ]
                result.append((config, entries))
        return result


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows whose (list, algorithm, hash) is not there yet (nor earlier in ``rows``)."""
    keys = ["list_id", "algorithm", "hash_hex"]
    table: Any = models.ListEntry.__table__
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        connection.execute(postgresql.insert(table).on_conflict_do_nothing(index_elements=keys), rows)
        return
    from sqlalchemy.dialects import sqlite

    connection.execute(sqlite.insert(table).on_conflict_do_nothing(index_elements=keys), rows)


def _check_thresholds(thresholds: dict[str, int]) -> dict[str, int]:
    checked = {}
    for name, value in thresholds.items():
        algorithm = Algorithm(name)
        if not 0 <= int(value) <= algorithm.bits:
            raise ValueError(f"{algorithm} threshold must be between 0 and {algorithm.bits}, got {value}")
        checked[str(algorithm)] = int(value)
    return checked
