"""Claiming and settling outbox rows (``Delivery``), safely with many workers at once.

A worker claims a row with one conditional UPDATE that only succeeds while the row is still due
(pending and its time has come, or in progress under a lease that ran out). The database
re-checks that condition under its row lock, so on PostgreSQL and SQLite alike exactly one
worker wins. Each claim commits at once: a worker killed after claiming holds the row only until
its lease expires, then any worker takes it again. Settling a row checks the claim is still ours,
so a worker that outlived its lease cannot overwrite the newer attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from reporting import analytics, models
from reporting.db import session_factory
from reporting.matches.actions import OPERATORS, fan_out, new_event
from scanner.analytics.ports import NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    target: str
    destination_id: int | None
    attempts: int
    event_id: str
    event_kind: str
    customer_id: str
    case_id: int
    payload: dict[str, Any]
    event_created_at: datetime


def _due(now: datetime) -> Any:
    return or_(
        and_(models.Delivery.state == "pending", models.Delivery.next_attempt_at <= now),
        and_(models.Delivery.state == "in_progress", models.Delivery.claimed_until < now),
    )


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.sessions = session_factory(engine)

    def claim(self, worker_id: str, now: datetime, lease: timedelta, limit: int = 50) -> list[Claimed]:
        # Look further than ``limit``: workers polling together all see the same oldest rows, and
        # one that loses those races should go on to the next ones rather than come back empty.
        with self.sessions() as session:
            candidates = list(
                session.scalars(
                    select(models.Delivery.id)
                    .where(_due(now))
                    .order_by(models.Delivery.next_attempt_at, models.Delivery.id)
                    .limit(limit * 4)
                )
            )
        claimed: list[Claimed] = []
        for delivery_id in candidates:
            if len(claimed) >= limit:
                break
            with self.sessions.begin() as session:
                won = session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id == delivery_id, _due(now))
                    .values(
                        state="in_progress",
                        claimed_by=worker_id,
                        claimed_until=now + lease,
                        attempts=models.Delivery.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                if won.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                claimed.append(_load(session, delivery_id))
        return claimed

    def delivered(self, claim: Claimed, worker_id: str, now: datetime) -> bool:
        with self.sessions.begin() as session:
            if not self._settle_in(
                session, claim, worker_id, state="delivered", delivered_at=now, last_error=""
            ):
                return False
            count_notifications(session, claim.target, claim.customer_id, now, NOTIFICATIONS_SENT)
            return True

    def retry(self, claim: Claimed, worker_id: str, at: datetime, error: str) -> bool:
        return self._settle(claim, worker_id, state="pending", next_attempt_at=at, last_error=error[:2000])

    def dead(self, claim: Claimed, worker_id: str, error: str) -> bool:
        """Give up on the delivery, and tell the operators in the same transaction."""
        with self.sessions.begin() as session:
            if not self._settle_in(session, claim, worker_id, state="dead", last_error=error[:2000]):
                return False
            count_notifications(
                session, claim.target, claim.customer_id, models.utcnow(), NOTIFICATIONS_FAILED
            )
            payload = {
                "delivery_id": claim.delivery_id,
                "target": claim.target,
                "event_id": claim.event_id,
                "event_kind": claim.event_kind,
                "customer_id": claim.customer_id,
                "case_id": claim.case_id,
                "attempts": claim.attempts,
                "error": error[:500],
            }
            # A dead letter about a dead letter would loop; the log and metrics carry that one.
            if claim.event_kind != "dead_letter":
                event = new_event(session, "dead_letter", OPERATORS, claim.case_id, payload)
                session.flush()
                fan_out(session, event)
            return True

    def _settle(self, claim: Claimed, worker_id: str, **values: Any) -> bool:
        with self.sessions.begin() as session:
            return self._settle_in(session, claim, worker_id, **values)

    @staticmethod
    def _settle_in(session: Session, claim: Claimed, worker_id: str, **values: Any) -> bool:
        result = session.execute(
            update(models.Delivery)
            .where(
                models.Delivery.id == claim.delivery_id,
                models.Delivery.state == "in_progress",
                models.Delivery.claimed_by == worker_id,
                models.Delivery.attempts == claim.attempts,
            )
            .values(claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def count_notifications(
    session: Session, target: str, customer_id: str, at: datetime, metric: str, n: int = 1
) -> None:
    """Count deliveries to a customer's own destinations, in the transaction that settles them.
    Block hooks, partner reports and the operators' own notifications are not notifications
    of the customer."""
    if target.startswith("destination:") and customer_id != OPERATORS:
        analytics.add(session, customer_id, analytics.utc_day(at), {metric: n})


def backoff(
    attempts: int, base: float, ceiling: float, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait before the next attempt: exponential with "equal jitter", never sooner
    than the receiver's Retry-After."""
    delay = min(ceiling, base * 2.0 ** max(0, attempts - 1))
    delay = delay / 2 + rng.uniform(0, delay / 2)
    return float(max(delay, retry_after or 0.0))


def _load(session: Session, delivery_id: int) -> Claimed:
    row = session.execute(
        select(models.Delivery, models.Event)
        .join(models.Event, models.Event.id == models.Delivery.event_id)
        .where(models.Delivery.id == delivery_id)
    ).one()
    delivery, event = row
    return Claimed(
        delivery.id,
        delivery.target,
        delivery.destination_id,
        delivery.attempts,
        event.id,
        event.kind,
        event.customer_id,
        event.case_id,
        dict(event.payload),
        event.created_at,
    )
