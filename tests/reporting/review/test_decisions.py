"""Decisions and their effects in one transaction with their audit record: the report after
review, a false positive's unblock, notice and flagged entries, an admin's override."""

from __future__ import annotations

import pytest

from reporting import audit, models
from reporting.review.decisions import Decisions
from reporting.review.errors import AlreadyDecided
from reporting.review.queue import ReviewQueue
from reporting.review.values import Reviewer
from reporting.store import NewEntry, Store
from tests.reporting.review.review_fixtures import ADMIN, ANALYST, A, M, audit_actions, new_case, rows


def test_confirm_requests_the_report_when_the_policy_waits_for_review(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    acting.set_policy("ncmec", {"report": "after_review"})
    decisions = Decisions(acting.engine)
    match_id = new_case(acting, "https://site.example/a.jpg")
    assert rows(acting, models.Report) == []

    result = decisions.decide(match_id, "confirm", ANALYST, "apparent CSAM")

    assert result.report_requested and result.state == "confirmed"
    [report] = rows(acting, models.Report)
    assert (report.match_id, report.partner, report.step) == (match_id, "cybertipline", "new")
    assert any(d.target == "report:cybertipline" for d in rows(acting, models.Delivery))
    [row] = [r for r in rows(acting, models.AuditRecord) if r.action == "case.confirm"]
    assert row.actor == "analyst:ann" and row.details["report_requested"] is True
    [block] = rows(acting, models.Block)
    assert block.state == "active"

    # A list that never reports files nothing on confirm.
    acting.import_entries("mine", [NewEntry(M)])
    other = new_case(acting, "https://site.example/b.jpg", hashes=(M,))
    assert not decisions.decide(other, "confirm", ANALYST).report_requested
    assert len(rows(acting, models.Report)) == 1


def test_false_positive_resolves_the_block_tells_the_customer_and_flags_the_entry(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "n-1")])
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    reloads: list[int] = []
    decisions = Decisions(acting.engine, on_lists_changed=lambda: reloads.append(1))
    match_id = new_case(acting, "https://site.example/a.jpg")

    result = decisions.decide(match_id, "false_positive", ANALYST, "a rocket, not abuse")

    assert result.block_resolved and result.state == "false_positive"
    [block] = rows(acting, models.Block)
    assert block.state == "resolved" and block.resolved_at is not None
    [event] = [e for e in rows(acting, models.Event) if e.kind == "case_resolved"]
    assert (event.customer_id, event.case_id, event.payload["block"]) == ("cust", match_id, "resolved")
    assert [d.target for d in rows(acting, models.Delivery) if d.event_id == event.id] == ["destination:1"]
    [entry] = rows(acting, models.ListEntry)
    assert entry.status == "flagged" and result.flagged_entries == [entry.id]
    [flag] = rows(acting, models.EntryFlag)
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
    queue = ReviewQueue(acting.engine)
    decisions = Decisions(acting.engine)
    match_id = new_case(acting, "https://site.example/a.jpg")
    decisions.decide(match_id, "false_positive", ANALYST)

    with pytest.raises(AlreadyDecided):
        decisions.decide(match_id, "confirm", Reviewer("analyst:bob"))
    result = decisions.decide(match_id, "confirm", ADMIN, "it is abuse after all")

    assert result.override and result.report_requested
    [entry] = rows(acting, models.ListEntry)
    assert entry.status == "active" and result.restored_entries == [entry.id]
    case = queue.case(match_id, "analyst:root")
    assert [(d.decision, d.actor, d.override) for d in case.decisions] == [
        ("false_positive", "analyst:ann", False),
        ("confirm", "analyst:root", True),
    ]
    decided = [a for _, a, _ in audit_actions(acting) if a.startswith("case.") and a != "case.view"]
    assert decided == ["case.false_positive", "case.confirm"]
