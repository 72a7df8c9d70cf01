"""Deciding a case, and what the decision sets in motion, all in one transaction with its
``reporting.audit`` record, so there is no decision without its record and no half of one:

* ``confirm``: the case is apparent abuse material; if the strongest policy of the lists it hit
  says ``after_review``, the partner report is requested (``actions.request_report``, at most
  once per case). An admin's confirm after a false positive restores the entries it flagged.
* ``false_positive``: the block on the URL is resolved and the customer's destinations hear a
  ``case_resolved`` event; the list entries it hit are flagged (``reporting.review.flags``).
* ``escalate``: the case stays in the queue, ahead of the others.

A confirm or false positive resolves the case's open review requests
(``reporting.review.appeals``). A decided case is decided again only by an admin; both
decisions stay on record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reporting import audit, models
from reporting.db import session_factory
from reporting.lists.policy import ActionPolicy, ReportWhen
from reporting.matches import actions
from reporting.review.appeals import resolve_requests
from reporting.review.errors import (
    AlreadyDecided,
    CaseNotFound,
    DecisionConflict,
    InvalidReview,
    check_text,
)
from reporting.review.flags import flag_entries, restore_flags
from reporting.review.queue import queue_row
from reporting.review.values import (
    DECIDED,
    PRIORITY_ESCALATED,
    CaseState,
    Decision,
    DecisionResult,
    Reviewer,
)

_STATE_OF = {
    Decision.CONFIRM: CaseState.CONFIRMED,
    Decision.FALSE_POSITIVE: CaseState.FALSE_POSITIVE,
    Decision.ESCALATE: CaseState.ESCALATED,
}


class Decisions:
    def __init__(self, engine: Engine, on_lists_changed: Callable[[], object] | None = None) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        # Called after a decision changed which list entries are active (the server reloads).
        self.on_lists_changed = on_lists_changed

    def decide(self, match_id: int, decision: str, reviewer: Reviewer, note: str = "") -> DecisionResult:
        try:
            chosen = Decision(decision)
        except ValueError:
            raise InvalidReview(
                f"unknown decision {decision!r}; choose from {', '.join(d.value for d in Decision)}"
            ) from None
        if not reviewer.actor:
            raise InvalidReview("a decision needs an actor")
        if len(note) > 4000:
            raise InvalidReview("the note is limited to 4000 characters")
        check_text("note", note, multiline=True)
        try:
            with self._sessions.begin() as session:
                result = _decide(session, match_id, chosen, reviewer, note)
        except IntegrityError:
            raise DecisionConflict(f"case {match_id} was decided at the same moment; reload it") from None
        if (result.flagged_entries or result.restored_entries) and self.on_lists_changed is not None:
            self.on_lists_changed()
        return result


def _decide(
    session: Session, match_id: int, decision: Decision, reviewer: Reviewer, note: str
) -> DecisionResult:
    now = models.utcnow()
    # Take the case's lock before reading its state (a row lock on PostgreSQL, the write
    # lock on SQLite), so two analysts cannot both decide an undecided case.
    session.execute(
        update(models.CaseReview).where(models.CaseReview.match_id == match_id).values(updated_at=now)
    )
    match = session.get(models.Match, match_id)
    if match is None:
        raise CaseNotFound(f"no case {match_id}")
    review = queue_row(session, match_id, now)
    session.flush()
    previous = CaseState(review.state)
    override = previous in DECIDED
    if override and not reviewer.admin:
        raise AlreadyDecided(
            f"case {match_id} was decided {previous.value} by {review.decided_by}; "
            "only an admin can change it"
        )
    if previous is _STATE_OF[decision] and override:
        raise InvalidReview(f"case {match_id} is already {previous.value}")
    row = models.ReviewDecision(
        match_id=match_id,
        decision=decision.value,
        actor=reviewer.actor,
        note=note,
        previous_state=previous.value,
        override=override,
        decided_at=now,
    )
    session.add(row)
    session.flush()
    review.state = _STATE_OF[decision].value
    review.note = note
    review.updated_at = now
    report_requested = block_resolved = False
    flagged: list[int] = []
    restored: list[int] = []
    resolved: list[int] = []
    if decision is Decision.ESCALATE:
        review.priority = PRIORITY_ESCALATED
    else:
        review.priority = 0
        review.decided_by, review.decided_at = reviewer.actor, now
        resolved = resolve_requests(session, match_id, row.id, now)
    if decision is Decision.CONFIRM:
        policy = _policy(session, match)
        if policy.report in (ReportWhen.AFTER_REVIEW, ReportWhen.IMMEDIATELY):
            actions.request_report(session, match_id, policy.partner, match.customer_id)
            report_requested = policy.report is ReportWhen.AFTER_REVIEW
        restored = restore_flags(session, match_id, reviewer.actor, now)
        if resolved:
            _tell_customer(session, match, "review_decided", {"outcome": "upheld", "requests": resolved})
    elif decision is Decision.FALSE_POSITIVE:
        block_resolved = _resolve_block(session, match, reviewer, note, now)
        flagged = flag_entries(session, match_id, reviewer.actor, now)
    audit.record(
        session,
        reviewer.actor,
        f"case.{decision.value}",
        f"match:{match_id}",
        {
            "decision_id": row.id,
            "previous_state": previous.value,
            "override": override,
            "note": note,
            "report_requested": report_requested,
            "block_resolved": block_resolved,
            "flagged_entries": flagged,
            "restored_entries": restored,
            "resolved_requests": resolved,
        },
        at=now,
    )
    return DecisionResult(
        row.id,
        match_id,
        review.state,
        override,
        report_requested,
        block_resolved,
        flagged,
        restored,
        resolved,
    )


def _policy(session: Session, match: models.Match) -> ActionPolicy:
    lists = session.scalars(
        select(models.HashList).where(
            models.HashList.id.in_(
                select(models.MatchHit.list_id).where(models.MatchHit.match_id == match.id)
            )
        )
    )
    return ActionPolicy.strongest(ActionPolicy.from_json(row.policy) for row in lists)


def _tell_customer(session: Session, match: models.Match, kind: str, extra: dict[str, Any]) -> None:
    event = actions.new_event(
        session, kind, match.customer_id, match.id, {"url": match.url, "match_id": match.id, **extra}
    )
    session.flush()
    actions.fan_out(session, event)


def _resolve_block(
    session: Session, match: models.Match, reviewer: Reviewer, note: str, now: datetime
) -> bool:
    """Lift the URL's block, unless it is held by another case someone confirmed; tell the
    customer either way that the case is closed."""
    block = session.scalar(
        select(models.Block).where(
            models.Block.customer_id == match.customer_id, models.Block.url == match.url
        )
    )
    resolved = False
    if block is not None and block.state != "resolved":
        holder = session.get(models.CaseReview, block.match_id) if block.match_id != match.id else None
        if holder is None or holder.state != CaseState.CONFIRMED.value:
            reason = f"false positive (reviewed by {reviewer.actor})"
            block.state, block.reason, block.resolved_at = "resolved", reason, now
            resolved = True
    _tell_customer(
        session,
        match,
        "case_resolved",
        {
            "block": block.state if block is not None else "none",
            "reason": "false positive",
            **({"note": note} if note else {}),
        },
    )
    return resolved
