"""The review queue: order, filters and pages, and one case's detail with its view audited."""

from __future__ import annotations

import pytest

from reporting.review.decisions import Decisions
from reporting.review.errors import CaseNotFound, InvalidReview
from reporting.review.queue import ReviewQueue
from reporting.store import NewEntry, Store
from tests.reporting.review.review_fixtures import ANALYST, CONTENT, A, M, audit_actions, new_case


def test_queue_orders_filters_and_pages(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "n-1")])
    acting.import_entries("mine", [NewEntry(M, "m-1")])
    queue = ReviewQueue(acting.engine)
    decisions = Decisions(acting.engine)
    first = new_case(acting, "https://a.example/1.jpg", "cust-a")
    second = new_case(acting, "https://b.example/2.jpg", "cust-b")
    third = new_case(acting, "https://a.example/3.jpg", "cust-a", (M,))

    page = queue.page()
    assert [c.match_id for c in page.cases] == [first, second, third]
    assert page.next_page_token == ""
    assert [c.match_id for c in queue.page(newest_first=True).cases] == [third, second, first]
    assert [c.match_id for c in queue.page(customer_id="cust-a").cases] == [first, third]
    assert [c.match_id for c in queue.page(list_name="mine").cases] == [third]
    case = page.cases[0]
    assert (case.customer_id, case.url, case.state, case.lists) == (
        "cust-a",
        "https://a.example/1.jpg",
        "open",
        ("ncmec",),
    )
    assert (case.algorithm, case.distance) == ("pdq", 0)

    # An escalated case goes first; paging walks the same order without repeats.
    decisions.decide(second, "escalate", ANALYST, "needs a second look")
    one = queue.page(limit=1)
    assert [c.match_id for c in one.cases] == [second] and one.cases[0].state == "escalated"
    two = queue.page(limit=1, page_token=one.next_page_token)
    three = queue.page(limit=1, page_token=two.next_page_token)
    assert [two.cases[0].match_id, three.cases[0].match_id] == [first, third]
    assert three.next_page_token == ""

    decisions.decide(first, "confirm", ANALYST)
    assert [c.match_id for c in queue.page().cases] == [second, third]
    assert [c.match_id for c in queue.page(state="confirmed").cases] == [first]
    assert len(queue.page(state="all").cases) == 3
    with pytest.raises(InvalidReview):
        queue.page(state="bogus")
    with pytest.raises(InvalidReview):
        queue.page(page_token="nonsense")


def test_case_detail_has_the_evidence_and_the_view_is_audited(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "ncmec-77")])
    queue = ReviewQueue(acting.engine)
    match_id = new_case(acting, "https://site.example/a.jpg")

    case = queue.case(match_id, "analyst:ann")

    assert (case.url, case.customer_id, case.client_ip, case.state, case.block_state) == (
        "https://site.example/a.jpg",
        "cust",
        "192.0.2.1",
        "open",
        "active",
    )
    assert case.hashes["pdq"] == A.hex
    [hit] = case.hits
    assert (hit.list_name, hit.external_id, hit.algorithm, hit.distance, hit.threshold) == (
        "ncmec",
        "ncmec-77",
        "pdq",
        0,
        31,
    )
    assert hit.hash_hex == A.hex and hit.entry_status == "active"
    assert case.evidence_available and case.evidence_size == len(CONTENT)
    assert ("analyst:ann", "case.view", f"match:{match_id}") in audit_actions(acting)
    with pytest.raises(CaseNotFound):
        queue.case(99999, "analyst:ann")
