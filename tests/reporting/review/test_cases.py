"""The review queue: queue order and filters, case detail, decisions and their effects in one
transaction with their audit record, appeals, admin overrides, exposure limits."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import select, text

from index.hashes import Hash
from index.matcher import Matcher
from reporting import audit, models
from reporting.matches.evidence import EvidenceBox
from reporting.review.cases import (
    AlreadyDecided,
    CaseNotFound,
    ExposureLimitReached,
    InvalidReview,
    Review,
    Reviewer,
)
from reporting.store import ActionConfig, NewEntry, Store
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
M = Hash.from_hex("md5", "0" * 31 + "1")
CONTENT = b"\xff\xd8 pretend these are the matched image bytes \xff\xd9"
ANALYST = Reviewer("analyst:ann")
ADMIN = Reviewer("analyst:root", admin=True)


@pytest.fixture
def acting(store: Store) -> Store:
    return Store(store.engine, ActionConfig(evidence=EvidenceBox(os.urandom(32))))


def _match(store: Store, url: str, customer: str = "cust", hashes: tuple[Hash, ...] = (A,)) -> int:
    hits = Matcher(store.matcher_inputs()).match(list(hashes))
    assert hits, "the test hash must match"
    context = ScanContext("req", customer, url, "192.0.2.1", "image/jpeg")
    return store.record_match(context, list(hashes), as_decided(store, hits), CONTENT)


def _rows(store: Store, model: type[Any]) -> list[Any]:
    with store._sessions() as session:
        return list(session.scalars(select(model).order_by(text("1"))))


def _actions(store: Store) -> list[tuple[str, str, str]]:
    with store._sessions() as session:
        rows = session.scalars(select(models.AuditRecord).order_by(models.AuditRecord.id))
        return [(r.actor, r.action, r.subject) for r in rows]


def test_queue_orders_filters_and_pages(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "n-1")])
    acting.import_entries("mine", [NewEntry(M, "m-1")])
    review = Review(acting.engine)
    first = _match(acting, "https://a.example/1.jpg", "cust-a")
    second = _match(acting, "https://b.example/2.jpg", "cust-b")
    third = _match(acting, "https://a.example/3.jpg", "cust-a", (M,))

    page = review.queue()
    assert [c.match_id for c in page.cases] == [first, second, third]
    assert page.next_page_token == ""
    assert [c.match_id for c in review.queue(newest_first=True).cases] == [third, second, first]
    assert [c.match_id for c in review.queue(customer_id="cust-a").cases] == [first, third]
    assert [c.match_id for c in review.queue(list_name="mine").cases] == [third]
    case = page.cases[0]
    assert (case.customer_id, case.url, case.state, case.lists) == (
        "cust-a",
        "https://a.example/1.jpg",
        "open",
        ("ncmec",),
    )
    assert (case.algorithm, case.distance) == ("pdq", 0)

    # An escalated case goes first; paging walks the same order without repeats.
    review.decide(second, "escalate", ANALYST, "needs a second look")
    one = review.queue(limit=1)
    assert [c.match_id for c in one.cases] == [second] and one.cases[0].state == "escalated"
    two = review.queue(limit=1, page_token=one.next_page_token)
    three = review.queue(limit=1, page_token=two.next_page_token)
    assert [two.cases[0].match_id, three.cases[0].match_id] == [first, third]
    assert three.next_page_token == ""

    review.decide(first, "confirm", ANALYST)
    assert [c.match_id for c in review.queue().cases] == [second, third]
    assert [c.match_id for c in review.queue(state="confirmed").cases] == [first]
    assert len(review.queue(state="all").cases) == 3
    with pytest.raises(InvalidReview):
        review.queue(state="bogus")
    with pytest.raises(InvalidReview):
        review.queue(page_token="nonsense")


def test_case_detail_has_the_evidence_and_the_view_is_audited(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "ncmec-77")])
    review = Review(acting.engine)
    match_id = _match(acting, "https://site.example/a.jpg")

    case = review.case(match_id, "analyst:ann")

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
    assert ("analyst:ann", "case.view", f"match:{match_id}") in _actions(acting)
    with pytest.raises(CaseNotFound):
        review.case(99999, "analyst:ann")


def test_confirm_requests_the_report_when_the_policy_waits_for_review(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    acting.set_policy("ncmec", {"report": "after_review"})
    review = Review(acting.engine)
    match_id = _match(acting, "https://site.example/a.jpg")
    assert _rows(acting, models.Report) == []

    result = review.decide(match_id, "confirm", ANALYST, "apparent CSAM")

    assert result.report_requested and result.state == "confirmed"
    [report] = _rows(acting, models.Report)
    assert (report.match_id, report.partner, report.step) == (match_id, "cybertipline", "new")
    assert any(d.target == "report:cybertipline" for d in _rows(acting, models.Delivery))
    [row] = [r for r in _rows(acting, models.AuditRecord) if r.action == "case.confirm"]
    assert row.actor == "analyst:ann" and row.details["report_requested"] is True
    [block] = _rows(acting, models.Block)
    assert block.state == "active"

    # A list that never reports files nothing on confirm.
    acting.import_entries("mine", [NewEntry(M)])
    other = _match(acting, "https://site.example/b.jpg", hashes=(M,))
    assert not review.decide(other, "confirm", ANALYST).report_requested
    assert len(_rows(acting, models.Report)) == 1


def test_false_positive_resolves_the_block_tells_the_customer_and_flags_the_entry(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "n-1")])
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    reloads: list[int] = []
    review = Review(acting.engine, on_lists_changed=lambda: reloads.append(1))
    match_id = _match(acting, "https://site.example/a.jpg")

    result = review.decide(match_id, "false_positive", ANALYST, "a rocket, not abuse")

    assert result.block_resolved and result.state == "false_positive"
    [block] = _rows(acting, models.Block)
    assert block.state == "resolved" and block.resolved_at is not None
    [event] = [e for e in _rows(acting, models.Event) if e.kind == "case_resolved"]
    assert (event.customer_id, event.case_id, event.payload["block"]) == ("cust", match_id, "resolved")
    assert [d.target for d in _rows(acting, models.Delivery) if d.event_id == event.id] == ["destination:1"]
    [entry] = _rows(acting, models.ListEntry)
    assert entry.status == "flagged" and result.flagged_entries == [entry.id]
    [flag] = _rows(acting, models.EntryFlag)
    assert (flag.entry_id, flag.match_id, flag.state, flag.flagged_by) == (
        entry.id,
        match_id,
        "open",
        "analyst:ann",
    )
    # The flagged entry no longer reaches the matcher; the running one was told to reload.
    [(_, entries)] = acting.matcher_inputs()
    assert entries == [] and reloads == [1]
    assert audit.verify(acting.engine).ok


def test_a_decided_case_is_redecided_only_by_an_admin_and_both_are_kept(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    acting.set_policy("ncmec", {"report": "after_review"})
    review = Review(acting.engine)
    match_id = _match(acting, "https://site.example/a.jpg")
    review.decide(match_id, "false_positive", ANALYST)

    with pytest.raises(AlreadyDecided):
        review.decide(match_id, "confirm", Reviewer("analyst:bob"))
    result = review.decide(match_id, "confirm", ADMIN, "it is abuse after all")

    assert result.override and result.report_requested
    [entry] = _rows(acting, models.ListEntry)
    assert entry.status == "active" and result.restored_entries == [entry.id]
    case = review.case(match_id, "analyst:root")
    assert [(d.decision, d.actor, d.override) for d in case.decisions] == [
        ("false_positive", "analyst:ann", False),
        ("confirm", "analyst:root", True),
    ]
    decided = [a for _, a, _ in _actions(acting) if a.startswith("case.") and a != "case.view"]
    assert decided == ["case.false_positive", "case.confirm"]


def test_a_review_request_goes_first_and_the_decision_resolves_it(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    review = Review(acting.engine)
    older = _match(acting, "https://site.example/old.jpg")
    appealed = _match(acting, "https://site.example/a.jpg")

    request = review.request_review(
        "cust", "not_as_listed", "It is our logo.", url="https://site.example/a.jpg"
    )

    assert (request.match_id, request.state, request.attestation) == (appealed, "open", "not_as_listed")
    page = review.queue()
    assert [c.match_id for c in page.cases] == [appealed, older]
    assert page.cases[0].open_requests == 1
    assert [c.match_id for c in review.queue(state="appealed").cases] == [appealed]

    result = review.decide(appealed, "confirm", ANALYST)

    assert result.resolved_requests == [request.id]
    [row] = _rows(acting, models.ReviewRequest)
    assert row.state == "resolved" and row.decision_id == result.decision_id
    assert [e.payload["outcome"] for e in _rows(acting, models.Event) if e.kind == "review_decided"] == [
        "upheld"
    ]
    assert review.queue(state="appealed").cases == []
    assert ("customer:cust", "case.review_requested", f"match:{appealed}") in _actions(acting)


def test_bad_requests_and_decisions_are_refused(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    review = Review(acting.engine)
    match_id = _match(acting, "https://site.example/a.jpg")
    with pytest.raises(InvalidReview):
        review.request_review("cust", "because", "x", match_id=match_id)
    with pytest.raises(InvalidReview):
        review.request_review("cust", "removed", "  ", match_id=match_id)
    with pytest.raises(CaseNotFound):
        review.request_review("someone-else", "removed", "gone", match_id=match_id)
    assert review.request_review("cust", "removed", "gone", match_id=match_id).attestation == "removed"
    with pytest.raises(InvalidReview):
        review.decide(match_id, "maybe", ANALYST)
    with pytest.raises(CaseNotFound):
        review.decide(12345, "confirm", ANALYST)
    assert _rows(acting, models.ReviewDecision) == []


def test_reveals_are_recorded_and_limited_per_analyst_per_day(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    review = Review(acting.engine)
    match_id = _match(acting, "https://site.example/a.jpg")

    assert not review.revealed(match_id, "analyst:ann")
    assert review.reveal(match_id, "analyst:ann", daily_limit=2).used == 1
    assert review.revealed(match_id, "analyst:ann") and not review.revealed(match_id, "analyst:bob")
    assert review.reveal(match_id, "analyst:ann", daily_limit=2).left == 0
    with pytest.raises(ExposureLimitReached, match="limit is 2"):
        review.reveal(match_id, "analyst:ann", daily_limit=2)
    assert review.reveal(match_id, "analyst:bob", daily_limit=2).used == 1
    assert review.exposure("analyst:ann", 2).used == 2
    actions = [a for actor, a, _ in _actions(acting) if actor == "analyst:ann"]
    assert actions == ["evidence.reveal", "evidence.reveal", "evidence.reveal_refused"]
    assert audit.verify(acting.engine).ok
