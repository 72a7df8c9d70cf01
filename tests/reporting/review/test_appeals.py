"""Customers' review requests: they put the case first, the next decision resolves them, and
bad ones are refused."""

from __future__ import annotations

import pytest

from reporting import models
from reporting.review.appeals import Appeals
from reporting.review.decisions import Decisions
from reporting.review.errors import CaseNotFound, InvalidReview
from reporting.review.queue import ReviewQueue
from reporting.store import NewEntry, Store
from tests.reporting.review.review_fixtures import ANALYST, A, audit_actions, new_case, rows


def test_a_review_request_goes_first_and_the_decision_resolves_it(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    queue, decisions, appeals = ReviewQueue(acting.engine), Decisions(acting.engine), Appeals(acting.engine)
    older = new_case(acting, "https://site.example/old.jpg")
    appealed = new_case(acting, "https://site.example/a.jpg")

    request = appeals.request_review(
        "cust", "not_as_listed", "It is our logo.", url="https://site.example/a.jpg"
    )

    assert (request.match_id, request.state, request.attestation) == (appealed, "open", "not_as_listed")
    page = queue.page()
    assert [c.match_id for c in page.cases] == [appealed, older]
    assert page.cases[0].open_requests == 1
    assert [c.match_id for c in queue.page(state="appealed").cases] == [appealed]

    result = decisions.decide(appealed, "confirm", ANALYST)

    assert result.resolved_requests == [request.id]
    [row] = rows(acting, models.ReviewRequest)
    assert row.state == "resolved" and row.decision_id == result.decision_id
    assert [e.payload["outcome"] for e in rows(acting, models.Event) if e.kind == "review_decided"] == [
        "upheld"
    ]
    assert queue.page(state="appealed").cases == []
    assert ("customer:cust", "case.review_requested", f"match:{appealed}") in audit_actions(acting)


def test_bad_requests_and_decisions_are_refused(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    decisions, appeals = Decisions(acting.engine), Appeals(acting.engine)
    match_id = new_case(acting, "https://site.example/a.jpg")
    with pytest.raises(InvalidReview):
        appeals.request_review("cust", "because", "x", match_id=match_id)
    with pytest.raises(InvalidReview):
        appeals.request_review("cust", "removed", "  ", match_id=match_id)
    with pytest.raises(CaseNotFound):
        appeals.request_review("someone-else", "removed", "gone", match_id=match_id)
    assert appeals.request_review("cust", "removed", "gone", match_id=match_id).attestation == "removed"
    with pytest.raises(InvalidReview):
        decisions.decide(match_id, "maybe", ANALYST)
    with pytest.raises(CaseNotFound):
        decisions.decide(12345, "confirm", ANALYST)
    assert rows(acting, models.ReviewDecision) == []
