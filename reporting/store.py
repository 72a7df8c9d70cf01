"""The database behind lists and matches (SQLite or PostgreSQL, through SQLAlchemy)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, ListKind, MatchHit
from reporting import audit, models
from reporting.db import session_factory
from reporting.lists.changes import bump_version, held_entries, list_config
from reporting.lists.matching import hold_entries
from reporting.lists.policy import ActionPolicy, ReportWhen
from reporting.matches import actions
from reporting.matches.evidence import EvidenceBox
from scanner.decision import ACTING, Action, recorded_verdict
from scanner.recording import BlockStatus, RecordingFailed, ScanContext

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


@dataclass(frozen=True)
class HitView:
    list: str
    entry_id: int
    external_id: str
    algorithm: str
    distance: int
    threshold: int
    variant: str = ""
    action: str = "block"


@dataclass(frozen=True)
class MatchView:
    id: int
    created_at: datetime
    request_id: str
    customer_id: str
    url: str
    client_ip: str
    content_type: str
    hashes: dict[str, Any]
    verdict: str
    hits: tuple[HitView, ...]
    # scan (the service), rescan (a batch rescan) or stored (re-matched from the hash log)
    source: str = "scan"


@dataclass(frozen=True)
class ActionConfig:
    """How recorded matches are acted on (see ``reporting.matches.actions``)."""

    evidence: EvidenceBox | None = None
    evidence_days: int = 365
    # A block hook is configured: blocks start pending until the worker has applied them.
    block_hook: bool = False


class Store:
    def __init__(self, engine: Engine, actions: ActionConfig | None = None) -> None:
        self.engine = engine
        self.actions = actions or ActionConfig()
        self._sessions = session_factory(engine)

    # --- lists -----------------------------------------------------------------------------

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
        """Change a list's policy. A change takes the list's next version: what blocks and which
        algorithms decide are part of the scan's decision, which running servers follow."""
        with self._sessions.begin() as session:
            row = session.scalar(select(models.HashList).where(models.HashList.name == list_name))
            if row is None:
                raise LookupError(f"no list named {list_name!r}")
            before = ActionPolicy.from_json(row.policy or {})
            policy = ActionPolicy.from_json({**before.to_json(), **changes})
            audit.record(
                session, actor, "list.policy", list_name, {"before": row.policy, "after": policy.to_json()}
            )
            if policy != before:
                row.policy = policy.to_json()
                session.flush()
                bump_version(session, row.id)
            return policy

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

    # --- matches ---------------------------------------------------------------------------

    def record_match(
        self,
        context: ScanContext,
        hashes: Sequence[Hash],
        hits: Sequence[MatchHit],
        content: bytes = b"",
        *,
        also: Callable[[Session, int], None] | None = None,
    ) -> int:
        """Write the match, its hits, its block, its evidence and one outbox row per action it
        triggers, in one transaction, committed before this returns. ``also(session, match_id)``
        adds the caller's own rows to that transaction (rescans mark the content as recorded)."""
        try:
            with self._sessions.begin() as session:
                match = models.Match(
                    request_id=context.request_id,
                    customer_id=context.customer_id,
                    url=context.url,
                    client_ip=context.client_ip,
                    content_type=context.content_type,
                    hashes=_hash_summary(hashes),
                    # What the scan's decision step made of the hits, not decided again here.
                    verdict=str(recorded_verdict(h.action for h in hits)),
                    source=context.source,
                )
                match.hits = [
                    models.MatchHit(
                        list_id=hit.list_id,
                        entry_id=hit.entry_id,
                        algorithm=str(hit.algorithm),
                        distance=hit.distance,
                        threshold=hit.threshold,
                        variant=hit.variant,
                        action=hit.action,
                    )
                    for hit in hits
                ]
                session.add(match)
                session.flush()
                lists = {
                    row.id: row
                    for row in session.scalars(
                        select(models.HashList).where(models.HashList.id.in_({h.list_id for h in hits}))
                    )
                }
                policy = _policy_for(hits, lists)
                hold_entries(session, match.id, hits)
                actions.on_match(
                    session,
                    match,
                    match.hits,
                    {list_id: row.name for list_id, row in lists.items()},
                    policy,
                    content,
                    self.actions.evidence,
                    self.actions.evidence_days,
                    self.actions.block_hook,
                )
                if also is not None:
                    also(session, match.id)
                return match.id
        except SQLAlchemyError as exc:
            raise RecordingFailed(f"could not record match: {exc.__class__.__name__}: {exc}") from exc

    def block_status(self, customer_id: str, urls: Sequence[str]) -> list[BlockStatus]:
        with self._sessions() as session:
            rows = {
                row.url: row
                for row in session.scalars(
                    select(models.Block).where(
                        models.Block.customer_id == customer_id, models.Block.url.in_(set(urls))
                    )
                )
            }
        return [
            BlockStatus(url, row.state, row.reason, row.match_id, int(row.updated_at.timestamp()))
            if (row := rows.get(url)) is not None
            else BlockStatus(url, "none")
            for url in urls
        ]

    def matches(self, limit: int = 100, customer_id: str | None = None) -> list[MatchView]:
        with self._sessions() as session:
            query = (
                select(models.Match)
                .options(selectinload(models.Match.hits))
                .order_by(models.Match.id.desc())
                .limit(limit)
            )
            if customer_id is not None:
                query = query.where(models.Match.customer_id == customer_id)
            rows = list(session.scalars(query))
            entry_ids = {hit.entry_id for row in rows for hit in row.hits}
            entries = {
                entry_id: (list_name, external_id)
                for entry_id, list_name, external_id in session.execute(
                    select(models.ListEntry.id, models.HashList.name, models.ListEntry.external_id)
                    .join(models.HashList)
                    .where(models.ListEntry.id.in_(entry_ids))
                )
            }
            return [
                MatchView(
                    row.id,
                    row.created_at,
                    row.request_id,
                    row.customer_id,
                    row.url,
                    row.client_ip,
                    row.content_type,
                    dict(row.hashes),
                    row.verdict,
                    tuple(
                        HitView(
                            entries[hit.entry_id][0],
                            hit.entry_id,
                            entries[hit.entry_id][1],
                            hit.algorithm,
                            hit.distance,
                            hit.threshold,
                            hit.variant,
                            hit.action,
                        )
                        for hit in row.hits
                    ),
                    row.source,
                )
                for row in rows
            ]


def _policy_for(hits: Sequence[MatchHit], lists: dict[int, models.HashList]) -> ActionPolicy:
    """What the match sets in motion. Whether it blocks is what the scan's decision step said
    (the hits' actions, decided with the lists' policies as the server held them): the answer
    the edge got and the block recorded never disagree. The rest is the strongest policy of the
    lists whose hits act (``block`` or ``record``); a match only queued for review blocks
    nothing and tells no customer, and a report waits for an analyst's confirmation."""
    acting = {h.list_id for h in hits if h.action in ACTING}
    if acting:
        chosen = ActionPolicy.strongest(ActionPolicy.from_json(lists[i].policy) for i in acting if i in lists)
        return dataclasses.replace(chosen, block=any(h.action == Action.BLOCK for h in hits))
    strongest = ActionPolicy.strongest(ActionPolicy.from_json(row.policy) for row in lists.values())
    report = ReportWhen.NEVER if strongest.report is ReportWhen.NEVER else ReportWhen.AFTER_REVIEW
    return ActionPolicy(
        block=False, notify=False, report=report, partner=strongest.partner, preserve=strongest.preserve
    )


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


def _hash_summary(hashes: Sequence[Hash]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for value in hashes:
        key = str(value.algorithm) if value.frame == 0 else f"{value.algorithm}@{value.frame}"
        summary.setdefault(key, value.hex)
        if value.quality is not None and value.frame == 0:
            summary[f"{value.algorithm}_quality"] = value.quality
    return summary


def _check_thresholds(thresholds: dict[str, int]) -> dict[str, int]:
    checked = {}
    for name, value in thresholds.items():
        algorithm = Algorithm(name)
        if not 0 <= int(value) <= algorithm.bits:
            raise ValueError(f"{algorithm} threshold must be between 0 and {algorithm.bits}, got {value}")
        checked[str(algorithm)] = int(value)
    return checked
