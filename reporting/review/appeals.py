"""Customers' review requests (appeals): "this is not what the list says" or "it has been removed".

A request puts its case at the front of the queue (``PRIORITY_APPEALED``); the next confirm or
false positive resolves it (``resolve_requests``, in the decision's transaction). A caller bound
to one customer (a ``customer:appeal`` token) reaches that customer's matches only, and any
other match reads as absent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from reporting import audit, models
from reporting.db import session_factory
from reporting.review.errors import CaseNotFound, InvalidReview, check_text
from reporting.review.queue import queue_row
from reporting.review.values import PRIORITY_APPEALED, Attestation, RequestView


class Appeals:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def request_review(
        self,
        customer_id: str,
        attestation: str,
        statement: str,
        *,
        match_id: int = 0,
        url: str = "",
        requested_by: str = "",
        bound_customer: str | None = None,
    ) -> RequestView:
        """A customer asks for review of a match (by id, or the newest match of a blocked URL).

        ``bound_customer``: the caller acts for that customer only (a ``customer:appeal``
        token); ``customer_id`` then defaults to it, and any other customer's match is absent."""
        customer_id = customer_id or bound_customer or ""
        try:
            chosen = Attestation(attestation)
        except ValueError:
            raise InvalidReview(
                f"unknown attestation {attestation!r}; choose from {', '.join(a.value for a in Attestation)}"
            ) from None
        if not customer_id:
            raise InvalidReview("a review request needs the customer")
        if not statement.strip():
            raise InvalidReview("a review request needs a statement")
        if len(statement) > 4000:
            raise InvalidReview("the statement is limited to 4000 characters")
        check_text("statement", statement, multiline=True)
        check_text("url", url)
        if bool(match_id) == bool(url):
            raise InvalidReview("name either the match or the blocked URL")
        with self._sessions.begin() as session:
            if match_id:
                match = session.get(models.Match, match_id)
            else:
                match = session.scalar(
                    select(models.Match)
                    .where(models.Match.customer_id == customer_id, models.Match.url == url)
                    .order_by(models.Match.id.desc())
                    .limit(1)
                )
            # Another customer's match reads as absent: ids must not tell what others have.
            if match is None or match.customer_id != customer_id or bound_customer not in (None, customer_id):
                raise CaseNotFound(f"no match {match_id or url!r} for customer {customer_id}")
            now = models.utcnow()
            request = models.ReviewRequest(
                match_id=match.id,
                customer_id=customer_id,
                url=match.url,
                attestation=chosen.value,
                statement=statement,
                requested_by=requested_by or f"customer:{customer_id}",
                created_at=now,
                state="open",
            )
            session.add(request)
            review = queue_row(session, match.id, now)
            review.priority = max(review.priority or 0, PRIORITY_APPEALED)
            review.updated_at = now
            session.flush()
            audit.record(
                session,
                request.requested_by,
                "case.review_requested",
                f"match:{match.id}",
                {"request_id": request.id, "attestation": chosen.value, "statement": statement},
                at=now,
            )
            return RequestView.of(request)


def resolve_requests(session: Session, match_id: int, decision_id: int, now: datetime) -> list[int]:
    """Resolve the case's open requests with this decision; their ids."""
    rows = session.scalars(
        select(models.ReviewRequest).where(
            models.ReviewRequest.match_id == match_id, models.ReviewRequest.state == "open"
        )
    ).all()
    for row in rows:
        row.state, row.decision_id, row.resolved_at = "resolved", decision_id, now
    return [row.id for row in rows]
