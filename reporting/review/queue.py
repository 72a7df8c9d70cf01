"""The review queue as analysts read it: cases in priority order, keyset-paged, and one case with
everything the match recorded (the view audited).

A case's place in the queue is its ``case_reviews`` row (state and priority, ``queue_row``);
cases nobody has touched have none and read as ``open`` at priority 0. Decisions
(``reporting.review.decisions``) and review requests (``reporting.review.appeals``) move cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from reporting import audit, models
from reporting.db import session_factory
from reporting.review.errors import CaseNotFound, InvalidReview
from reporting.review.values import (
    ALL,
    APPEALED,
    PENDING,
    STATE_FILTERS,
    CaseDetail,
    CaseState,
    CaseSummary,
    DecisionView,
    HitDetail,
    QueuePage,
    RequestView,
)
from scanner.errors import InvalidRequest
from scanner.paging import page_ids

MAX_PAGE = 500


class ReviewQueue:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def page(
        self,
        *,
        state: str = PENDING,
        customer_id: str = "",
        list_name: str = "",
        newest_first: bool = False,
        limit: int = 50,
        page_token: str = "",
    ) -> QueuePage:
        """Cases, highest priority first, then oldest (or newest) first.

        ``state``: ``pending`` (undecided, or with an open review request; the default),
        ``appealed``, ``all`` or one case state."""
        if state not in STATE_FILTERS:
            raise InvalidReview(f"unknown state {state!r}; choose from {', '.join(sorted(STATE_FILTERS))}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidReview(f"limit must be between 1 and {MAX_PAGE}")
        Match, CaseReview, Request = models.Match, models.CaseReview, models.ReviewRequest
        case_state = func.coalesce(CaseReview.state, CaseState.OPEN.value)
        priority = func.coalesce(CaseReview.priority, 0)
        open_requests = (
            select(func.count(Request.id))
            .where(Request.match_id == Match.id, Request.state == "open")
            .scalar_subquery()
        )
        query = select(Match, case_state, priority, open_requests).outerjoin(
            CaseReview, CaseReview.match_id == Match.id
        )
        appealed = exists().where(Request.match_id == Match.id, Request.state == "open")
        if state == PENDING:
            query = query.where(
                or_(case_state.in_([CaseState.OPEN.value, CaseState.ESCALATED.value]), appealed)
            )
        elif state == APPEALED:
            query = query.where(appealed)
        elif state != ALL:
            query = query.where(case_state == state)
        if customer_id:
            query = query.where(Match.customer_id == customer_id)
        if list_name:
            query = query.where(
                exists()
                .where(models.MatchHit.match_id == Match.id)
                .where(models.HashList.id == models.MatchHit.list_id)
                .where(models.HashList.name == list_name)
            )
        if page_token:
            after_priority, after_id = _parse_token(page_token)
            later = Match.id < after_id if newest_first else Match.id > after_id
            query = query.where(or_(priority < after_priority, and_(priority == after_priority, later)))
        order = Match.id.desc() if newest_first else Match.id.asc()
        query = query.order_by(priority.desc(), order).limit(limit + 1)
        with self._sessions() as session:
            rows = session.execute(query).all()
            more = len(rows) > limit
            rows = rows[:limit]
            hits = _hits(session, [r[0].id for r in rows])
            cases = []
            for match, row_state, row_priority, requests in rows:
                mine = hits.get(match.id, [])
                best = min(mine, key=lambda h: h.distance, default=None)
                cases.append(
                    CaseSummary(
                        match.id,
                        match.created_at,
                        match.customer_id,
                        match.url,
                        str(row_state),
                        int(row_priority),
                        tuple(sorted({h.list_name for h in mine})),
                        best.algorithm if best else "",
                        best.distance if best else 0,
                        int(requests or 0),
                    )
                )
        token = f"{cases[-1].priority}.{cases[-1].match_id}" if more and cases else ""
        return QueuePage(cases, token)

    def case(self, match_id: int, viewer: str) -> CaseDetail:
        """Everything about one case; the view is recorded in the audit log."""
        if not viewer:
            raise InvalidReview("a case view needs a viewer")
        with self._sessions.begin() as session:
            detail = _detail(session, match_id)
            audit.record(session, viewer, "case.view", f"match:{match_id}", {"state": detail.state})
            return detail


def queue_row(session: Session, match_id: int, now: datetime) -> models.CaseReview:
    """The case's ``case_reviews`` row, added (``open``, priority 0) if it has none yet."""
    review = session.get(models.CaseReview, match_id)
    if review is None:
        review = models.CaseReview(
            match_id=match_id,
            state=CaseState.OPEN.value,
            priority=0,
            decided_by="",
            note="",
            updated_at=now,
        )
        session.add(review)
    return review


def _parse_token(token: str) -> tuple[int, int]:
    """``<priority>.<match id>`` (``scanner.paging``), refused as ``InvalidReview``."""
    try:
        priority, match_id = page_ids(token, 2)
    except InvalidRequest as exc:
        raise InvalidReview(str(exc), exc.field) from None
    return priority, match_id


def _hits(session: Session, match_ids: list[int]) -> dict[int, list[HitDetail]]:
    found: dict[int, list[HitDetail]] = {}
    if not match_ids:
        return found
    rows = session.execute(
        select(models.MatchHit, models.HashList.name, models.ListEntry)
        .join(models.HashList, models.HashList.id == models.MatchHit.list_id)
        .join(models.ListEntry, models.ListEntry.id == models.MatchHit.entry_id)
        .where(models.MatchHit.match_id.in_(match_ids))
        .order_by(models.MatchHit.id)
    )
    for hit, list_name, entry in rows:
        found.setdefault(hit.match_id, []).append(HitDetail.of(hit, list_name, entry))
    return found


def _detail(session: Session, match_id: int) -> CaseDetail:
    match = session.get(models.Match, match_id)
    if match is None:
        raise CaseNotFound(f"no case {match_id}")
    review = session.get(models.CaseReview, match_id)
    block = session.scalar(
        select(models.Block).where(
            models.Block.customer_id == match.customer_id, models.Block.url == match.url
        )
    )
    report = session.scalar(
        select(models.Report).where(models.Report.match_id == match_id).order_by(models.Report.id).limit(1)
    )
    evidence = session.scalar(select(models.Evidence).where(models.Evidence.match_id == match_id))
    requests = session.scalars(
        select(models.ReviewRequest)
        .where(models.ReviewRequest.match_id == match_id)
        .order_by(models.ReviewRequest.id)
    )
    decisions = session.scalars(
        select(models.ReviewDecision)
        .where(models.ReviewDecision.match_id == match_id)
        .order_by(models.ReviewDecision.id)
    )
    return CaseDetail(
        match.id,
        match.created_at,
        match.request_id,
        match.customer_id,
        match.url,
        match.client_ip,
        match.content_type,
        dict(match.hashes),
        match.source,
        review.state if review else CaseState.OPEN.value,
        review.priority if review else 0,
        review.decided_by if review else "",
        review.decided_at if review else None,
        review.note if review else "",
        tuple(_hits(session, [match_id]).get(match_id, [])),
        block.state if block is not None else "none",
        report.partner if report is not None else "",
        report.step if report is not None else "",
        evidence is not None and evidence.ciphertext is not None,
        evidence.sha256 if evidence is not None else "",
        evidence.size if evidence is not None else 0,
        tuple(RequestView.of(r) for r in requests),
        tuple(DecisionView.of(d) for d in decisions),
    )
