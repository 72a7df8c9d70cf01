"""What a recorded match sets in motion, written in the same transaction as the match.

The decision step (``scanner.decision``) said what the match sets in motion (``MatchActions``);
this layer does it: it looks up what the customer configured and writes one outbox row (a
``Delivery``) per destination, plus the block, the evidence and the partner report asked for.
The worker does the sending. Adding a destination kind never touches the scanner.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.policy import ReportWhen
from reporting import analytics, models
from reporting.matches.evidence import EvidenceBox
from scanner.analytics.ports import BLOCKS, MATCHES
from scanner.decision import MatchActions

OPERATORS = "_operators"
# Event kinds a digest destination collects instead of sending one by one.
DIGESTIBLE = frozenset({"match"})


def new_event(
    session: Session, kind: str, customer_id: str, case_id: int, payload: dict[str, Any]
) -> models.Event:
    event = models.Event(
        id=str(uuid.uuid4()), kind=kind, customer_id=customer_id, case_id=case_id, payload=payload
    )
    session.add(event)
    return event


def fan_out(session: Session, event: models.Event) -> list[models.Delivery]:
    """One delivery of ``event`` per enabled destination of its customer."""
    deliveries = []
    destinations = session.scalars(
        select(models.Destination).where(
            models.Destination.customer_id == event.customer_id, models.Destination.enabled.is_(True)
        )
    )
    for destination in destinations:
        digest = destination.mode == "digest" and event.kind in DIGESTIBLE
        delivery = models.Delivery(
            event_id=event.id,
            target=f"destination:{destination.id}",
            destination_id=destination.id,
            state="digest" if digest else "pending",
            next_attempt_at=models.utcnow(),
        )
        session.add(delivery)
        deliveries.append(delivery)
    return deliveries


def request_report(session: Session, match_id: int, partner: str, customer_id: str) -> models.Report:
    """Create the report row and the delivery that files it (both at most once per case)."""
    report = session.scalar(
        select(models.Report).where(models.Report.match_id == match_id, models.Report.partner == partner)
    )
    if report is not None:
        return report
    report = models.Report(match_id=match_id, partner=partner, step="new", state={})
    session.add(report)
    event = new_event(session, "report", customer_id, match_id, {"partner": partner, "match_id": match_id})
    session.flush()
    session.add(models.Delivery(event_id=event.id, target=f"report:{partner}", state="pending"))
    return report


def on_match(
    session: Session,
    match: models.Match,
    hits: Sequence[models.MatchHit],
    list_names: dict[int, str],
    actions: MatchActions,
    content: bytes,
    evidence: EvidenceBox | None,
    evidence_days: int,
    block_hook: bool,
) -> None:
    """Everything ``actions`` (the decision step's) asks of the match, inside the caller's
    transaction (``match`` is flushed)."""
    block_state, placed = "none", False
    if actions.block and match.url:
        # Named after the lists whose hits block (a hit on a --no-block list is only recorded).
        blocking = {h.list_id for h in hits if h.action == "block"} or {h.list_id for h in hits}
        block_state, placed = _block(session, match, sorted(list_names[i] for i in blocking), block_hook)
    if actions.preserve and evidence is not None and content:
        now = models.utcnow()
        session.add(
            models.Evidence(
                match_id=match.id,
                ciphertext=evidence.seal(match.id, content),
                key_id=evidence.key_id,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                content_type=match.content_type,
                created_at=now,
                preserve_until=now + timedelta(days=evidence_days),
            )
        )
    if actions.notify:
        payload = match_payload(match, hits, list_names, block_state)
        event = new_event(session, "match", match.customer_id, match.id, payload)
        session.flush()
        fan_out(session, event)
    if actions.report is ReportWhen.IMMEDIATELY:
        request_report(session, match.id, actions.partner, match.customer_id)
    # Last, so the counter row stays locked for as short a time as possible before the commit.
    analytics.add(
        session, match.customer_id, analytics.utc_day(match.created_at), {MATCHES: 1, BLOCKS: int(placed)}
    )


def _block(session: Session, match: models.Match, lists: list[str], block_hook: bool) -> tuple[str, bool]:
    """Block the match's URL; return the block's state and whether the URL is newly blocked
    (it was not, or its block had been resolved)."""
    block = session.scalar(
        select(models.Block).where(
            models.Block.customer_id == match.customer_id, models.Block.url == match.url
        )
    )
    reason = f"matched hash list {', '.join(lists)} (match {match.id})"
    placed = block is None or block.state == "resolved"
    if block is None:
        block = models.Block(customer_id=match.customer_id, url=match.url, match_id=match.id, reason=reason)
        session.add(block)
    elif block.state == "active":
        return block.state, False
    else:
        block.match_id, block.reason, block.resolved_at = match.id, reason, None
    block.state = "pending" if block_hook else "active"
    if block_hook:
        event = new_event(
            session, "block", match.customer_id, match.id, {"url": match.url, "match_id": match.id}
        )
        session.flush()
        session.add(models.Delivery(event_id=event.id, target="block", state="pending"))
    return block.state, placed


def match_payload(
    match: models.Match, hits: Sequence[models.MatchHit], list_names: dict[int, str], block_state: str
) -> dict[str, Any]:
    """What a customer is told about a match: where and when, never the content."""
    return {
        "match_id": match.id,
        "customer_id": match.customer_id,
        "url": match.url,
        "detected_at": match.created_at.isoformat(),
        "block": block_state,
        "hits": [
            {
                "list": list_names[h.list_id],
                "entry_id": h.entry_id,
                "algorithm": h.algorithm,
                "distance": h.distance,
            }
            for h in hits
        ],
    }
