"""The matches half of the database: recording a match with everything it sets in motion, block
status, and listing matches.

Recording carries out what the decision step (``scanner.decision``) decided, verdict and actions
included; it decides nothing, so what the edge was answered and what the match sets in motion
cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from index.hashes import Hash
from reporting import models
from reporting.db import session_factory
from reporting.lists.matching import hold_entries
from reporting.matches import actions
from reporting.matches.evidence import EvidenceBox
from scanner.decision import Decision
from scanner.recording import BlockStatus, RecordingFailed, ScanContext


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


class MatchStore:
    def __init__(self, engine: Engine, actions: ActionConfig | None = None) -> None:
        self.engine = engine
        self.actions = actions or ActionConfig()
        self._sessions = session_factory(engine)

    def record_match(
        self,
        context: ScanContext,
        hashes: Sequence[Hash],
        decision: Decision,
        content: bytes = b"",
        *,
        also: Callable[[Session, int], None] | None = None,
    ) -> int:
        """Write the match, its hits, and what ``decision.actions`` sets in motion (its block,
        its evidence, one outbox row per notification and report), in one transaction,
        committed before this returns. ``also(session, match_id)`` adds the caller's own rows to
        that transaction (rescans mark the content as recorded)."""
        hits = decision.kept
        try:
            with self._sessions.begin() as session:
                match = models.Match(
                    request_id=context.request_id,
                    customer_id=context.customer_id,
                    url=context.url,
                    client_ip=context.client_ip,
                    content_type=context.content_type,
                    hashes=_hash_summary(hashes),
                    verdict=str(decision.recorded),
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
                names: dict[int, str] = {
                    list_id: name
                    for list_id, name in session.execute(
                        select(models.HashList.id, models.HashList.name).where(
                            models.HashList.id.in_({h.list_id for h in hits})
                        )
                    )
                }
                hold_entries(session, match.id, hits)
                actions.on_match(
                    session,
                    match,
                    match.hits,
                    names,
                    decision.actions,
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


def _hash_summary(hashes: Sequence[Hash]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for value in hashes:
        key = str(value.algorithm) if value.frame == 0 else f"{value.algorithm}@{value.frame}"
        summary.setdefault(key, value.hex)
        if value.quality is not None and value.frame == 0:
            summary[f"{value.algorithm}_quality"] = value.quality
    return summary
