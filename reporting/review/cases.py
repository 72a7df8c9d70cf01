"""The review queue: cases waiting for an analyst, their evidence, decisions, customers' review
requests, and the analyst's exposure to the images.

Every change is one transaction together with its ``reporting.audit`` record, so there is no
decision, view or reveal without its record:

* ``confirm``: the case is apparent abuse material; if the strongest policy of the lists it hit
  says ``after_review``, the partner report is requested (``actions.request_report``, at most
  once per case).
* ``false_positive``: the block on the URL is resolved and the customer's destinations hear a
  ``case_resolved`` event; the list entries it hit are *flagged*: their status becomes
  ``flagged`` as a new version of the list (``reporting.lists.changes``), so running servers drop
  them in place on their next poll and index builds (``active`` entries only) leave them out;
  ``on_lists_changed`` lets this process apply it at once. An ``entry_flags`` row waits for
  someone to decide whether the entry goes back or goes away.
* ``escalate``: the case stays in the queue, ahead of the others.

A decided case is decided again only by an admin; both decisions stay on record. A customer's
review request (an appeal: "this is not what the list says" or "it has been removed") puts its
case at the front of the queue, and the next confirm or false positive resolves it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from index.text import refused_character
from reporting import audit, models
from reporting.db import session_factory
from reporting.lists.changes import set_entry_status
from reporting.lists.policy import ActionPolicy, ReportWhen
from reporting.matches import actions
from scanner.auth import PermissionDenied
from scanner.decision import describe_hit
from scanner.errors import HashwatchError, InvalidRequest, NotFound, Unavailable
from scanner.paging import page_ids


class Decision(enum.StrEnum):
    CONFIRM = "confirm"
    FALSE_POSITIVE = "false_positive"
    ESCALATE = "escalate"


class CaseState(enum.StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive"


class Attestation(enum.StrEnum):
    # The content is not what the list says it is.
    NOT_AS_LISTED = "not_as_listed"
    # The content has been taken down.
    REMOVED = "removed"


DECIDED = frozenset({CaseState.CONFIRMED, CaseState.FALSE_POSITIVE})
_STATE_OF = {
    Decision.CONFIRM: CaseState.CONFIRMED,
    Decision.FALSE_POSITIVE: CaseState.FALSE_POSITIVE,
    Decision.ESCALATE: CaseState.ESCALATED,
}
PRIORITY_ESCALATED = 2
PRIORITY_APPEALED = 1
# Queue filters beyond the case states: what still needs someone, and everything.
PENDING = "pending"
ALL = "all"
APPEALED = "appealed"
STATE_FILTERS = frozenset({PENDING, ALL, APPEALED, *CaseState})
MAX_PAGE = 500


class ReviewError(HashwatchError):
    """A review operation that cannot be done; the message is meant for the analyst.

    The subclasses are also the scanner's errors, so the gRPC layer maps them in one place."""


class CaseNotFound(ReviewError, NotFound, LookupError):
    pass


class InvalidReview(ReviewError, InvalidRequest, ValueError):
    pass


class AlreadyDecided(ReviewError, PermissionDenied):
    """The case was decided; only an admin may decide it again."""


class DecisionConflict(ReviewError, Unavailable):
    """Two decisions on one case at the same moment; the loser may reload and retry."""


class ExposureLimitReached(ReviewError):
    """The analyst has revealed as many images today as the limit allows."""


class _OverLimit(Exception):
    def __init__(self, used: int) -> None:
        super().__init__(used)
        self.used = used


@dataclass(frozen=True)
class Reviewer:
    """Who acts: the audit actor (``analyst:<name>``, ``token:<id>``, ``cli:<user>``) and whether
    they are an admin (only admins re-decide a decided case)."""

    actor: str
    admin: bool = False


@dataclass(frozen=True)
class CaseSummary:
    match_id: int
    created_at: datetime
    customer_id: str
    url: str
    state: str
    priority: int
    lists: tuple[str, ...]
    # The closest hit (smallest distance), "pdq 4/31" style parts.
    algorithm: str
    distance: int
    open_requests: int


@dataclass(frozen=True)
class HitDetail:
    list_id: int
    list_name: str
    entry_id: int
    external_id: str
    entry_status: str
    algorithm: str
    hash_hex: str
    distance: int
    threshold: int
    # Which form of the content matched ("rot90", "deborder", ...) and what the hit did.
    variant: str = ""
    action: str = "block"

    @property
    def how(self) -> str:
        """ "matched rotated 90°", "matched after border removal; queued for review (...)"."""
        return describe_hit(self.variant, self.action)


@dataclass(frozen=True)
class RequestView:
    id: int
    match_id: int
    customer_id: str
    url: str
    attestation: str
    statement: str
    requested_by: str
    created_at: datetime
    state: str
    resolved_at: datetime | None


@dataclass(frozen=True)
class DecisionView:
    id: int
    decision: str
    actor: str
    note: str
    previous_state: str
    override: bool
    decided_at: datetime


@dataclass(frozen=True)
class CaseDetail:
    match_id: int
    created_at: datetime
    request_id: str
    customer_id: str
    url: str
    client_ip: str
    content_type: str
    hashes: dict[str, Any]
    source: str
    state: str
    priority: int
    decided_by: str
    decided_at: datetime | None
    note: str
    hits: tuple[HitDetail, ...]
    block_state: str
    report_partner: str
    report_step: str
    evidence_available: bool
    evidence_sha256: str
    evidence_size: int
    requests: tuple[RequestView, ...]
    decisions: tuple[DecisionView, ...]


@dataclass(frozen=True)
class QueuePage:
    cases: list[CaseSummary]
    # Give back as ``page_token`` for the next page; "" when there is none.
    next_page_token: str


@dataclass(frozen=True)
class DecisionResult:
    decision_id: int
    match_id: int
    state: str
    override: bool
    report_requested: bool
    block_resolved: bool
    flagged_entries: list[int] = field(default_factory=list)
    restored_entries: list[int] = field(default_factory=list)
    resolved_requests: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class FlagView:
    id: int
    entry_id: int
    list_name: str
    external_id: str
    algorithm: str
    hash_hex: str
    match_id: int
    flagged_by: str
    flagged_at: datetime
    state: str
    decided_by: str


@dataclass(frozen=True)
class Exposure:
    """How many images an analyst has revealed today, of how many allowed."""

    used: int
    limit: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


class Review:
    def __init__(
        self,
        engine: Engine,
        on_lists_changed: Callable[[], object] | None = None,
        reveal_window: timedelta = timedelta(minutes=2),
    ) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        # Called after a decision changed which list entries are active (the server reloads).
        self.on_lists_changed = on_lists_changed
        self.reveal_window = reveal_window

    # --- the queue ---------------------------------------------------------------------------

    def queue(
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

    # --- decisions ---------------------------------------------------------------------------

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
        _check_text("note", note, multiline=True)
        try:
            with self._sessions.begin() as session:
                result = self._decide(session, match_id, chosen, reviewer, note)
        except IntegrityError:
            raise DecisionConflict(f"case {match_id} was decided at the same moment; reload it") from None
        if (result.flagged_entries or result.restored_entries) and self.on_lists_changed is not None:
            self.on_lists_changed()
        return result

    def _decide(
        self, session: Session, match_id: int, decision: Decision, reviewer: Reviewer, note: str
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
            resolved = _resolve_requests(session, match_id, row.id, now)
        if decision is Decision.CONFIRM:
            policy = _policy(session, match)
            if policy.report in (ReportWhen.AFTER_REVIEW, ReportWhen.IMMEDIATELY):
                actions.request_report(session, match_id, policy.partner, match.customer_id)
                report_requested = policy.report is ReportWhen.AFTER_REVIEW
            restored = _restore_flags(session, match_id, reviewer.actor, now)
            if resolved:
                _tell_customer(session, match, "review_decided", {"outcome": "upheld", "requests": resolved})
        elif decision is Decision.FALSE_POSITIVE:
            block_resolved = _resolve_block(session, match, reviewer, note, now)
            flagged = _flag_entries(session, match_id, reviewer.actor, now)
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

    # --- customers' review requests ----------------------------------------------------------

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
        _check_text("statement", statement, multiline=True)
        _check_text("url", url)
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
            review = session.get(models.CaseReview, match.id)
            if review is None:
                review = models.CaseReview(
                    match_id=match.id,
                    state=CaseState.OPEN.value,
                    priority=0,
                    decided_by="",
                    note="",
                    updated_at=now,
                )
                session.add(review)
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
            return _request_view(request)

    # --- flagged list entries ----------------------------------------------------------------

    def flags(self, state: str = "open") -> list[FlagView]:
        """Entries a false positive flagged (``open``: still waiting for someone to decide)."""
        query = (
            select(models.EntryFlag, models.HashList.name, models.ListEntry)
            .join(models.HashList, models.HashList.id == models.EntryFlag.list_id)
            .join(models.ListEntry, models.ListEntry.id == models.EntryFlag.entry_id)
            .order_by(models.EntryFlag.id)
        )
        if state != ALL:
            query = query.where(models.EntryFlag.state == state)
        with self._sessions() as session:
            return [
                FlagView(
                    flag.id,
                    flag.entry_id,
                    name,
                    entry.external_id,
                    entry.algorithm,
                    entry.hash_hex,
                    flag.match_id,
                    flag.flagged_by,
                    flag.flagged_at,
                    flag.state,
                    flag.decided_by,
                )
                for flag, name, entry in session.execute(query)
            ]

    def decide_flag(self, flag_id: int, outcome: str, actor: str, note: str = "") -> FlagView:
        """``restore``: the entry matches again; ``disable``: it stays out of the index for good."""
        if outcome not in ("restore", "disable"):
            raise InvalidReview("decide a flag with restore or disable")
        if not actor:
            raise InvalidReview("a flag decision needs an actor")
        _check_text("note", note, multiline=True)
        now = models.utcnow()
        with self._sessions.begin() as session:
            flag = session.get(models.EntryFlag, flag_id)
            if flag is None:
                raise CaseNotFound(f"no entry flag {flag_id}")
            if flag.state != "open":
                raise InvalidReview(f"entry flag {flag_id} was already decided ({flag.state})")
            entry = session.get(models.ListEntry, flag.entry_id)
            assert entry is not None  # RESTRICT: an entry with flags cannot be deleted
            status = entry.status
            open_flags = session.scalars(
                select(models.EntryFlag).where(
                    models.EntryFlag.entry_id == entry.id, models.EntryFlag.state == "open"
                )
            ).all()
            # One decision settles the entry: every open flag on it closes with it.
            for other in open_flags:
                other.state = "restored" if outcome == "restore" else "disabled"
                other.decided_by, other.decided_at = actor, now
            session.flush()
            if status == "flagged":
                new_status = flag.previous_status if outcome == "restore" else "disabled"
                set_entry_status(session, entry.list_id, [entry.id], new_status)
            audit.record(
                session,
                actor,
                f"entry_flag.{outcome}",
                f"entry:{entry.id}",
                {"flags": [f.id for f in open_flags], "list_id": entry.list_id, "note": note},
                at=now,
            )
            list_name = session.get(models.HashList, entry.list_id)
            view = FlagView(
                flag.id,
                entry.id,
                list_name.name if list_name else "",
                entry.external_id,
                entry.algorithm,
                entry.hash_hex,
                flag.match_id,
                flag.flagged_by,
                flag.flagged_at,
                flag.state,
                flag.decided_by,
            )
        if outcome == "restore" and self.on_lists_changed is not None:
            self.on_lists_changed()
        return view

    # --- exposure ----------------------------------------------------------------------------

    def exposure(self, actor: str, daily_limit: int, now: datetime | None = None) -> Exposure:
        day = (now or models.utcnow()).date().isoformat()
        with self._sessions() as session:
            used = session.scalar(
                select(func.count(models.EvidenceReveal.id)).where(
                    models.EvidenceReveal.actor == actor, models.EvidenceReveal.day == day
                )
            )
        return Exposure(int(used or 0), daily_limit)

    def reveal(self, match_id: int, actor: str, daily_limit: int) -> Exposure:
        """Allow ``actor`` to see the case's image un-blurred for ``reveal_window``; counted
        against the daily limit and recorded. Over the limit: ``ExposureLimitReached``, also
        recorded."""
        now = models.utcnow()
        day = now.date().isoformat()
        try:
            with self._sessions.begin() as session:
                if session.get(models.Match, match_id) is None:
                    raise CaseNotFound(f"no case {match_id}")
                # The audit append takes the log's lock first, so the count below is not raced.
                audit.record(
                    session,
                    actor,
                    "evidence.reveal",
                    f"match:{match_id}",
                    {"daily_limit": daily_limit},
                    at=now,
                )
                used = int(
                    session.scalar(
                        select(func.count(models.EvidenceReveal.id)).where(
                            models.EvidenceReveal.actor == actor, models.EvidenceReveal.day == day
                        )
                    )
                    or 0
                )
                if used >= daily_limit:
                    # Rolls back the reveal's record; the refusal is recorded below instead.
                    raise _OverLimit(used)
                session.add(
                    models.EvidenceReveal(
                        match_id=match_id,
                        actor=actor,
                        day=day,
                        revealed_at=now,
                        valid_until=now + self.reveal_window,
                    )
                )
                return Exposure(used + 1, daily_limit)
        except _OverLimit as over:
            used = over.used
        with self._sessions.begin() as session:
            audit.record(
                session,
                actor,
                "evidence.reveal_refused",
                f"match:{match_id}",
                {"daily_limit": daily_limit, "used": used},
            )
        raise ExposureLimitReached(
            f"you have revealed {used} images today, the limit is {daily_limit}; the image stays blurred"
        )

    def revealed(self, match_id: int, actor: str) -> bool:
        """Whether ``actor`` has a current reveal of this case's image."""
        with self._sessions() as session:
            found = session.scalar(
                select(models.EvidenceReveal.id)
                .where(
                    models.EvidenceReveal.match_id == match_id,
                    models.EvidenceReveal.actor == actor,
                    models.EvidenceReveal.valid_until > models.utcnow(),
                )
                .limit(1)
            )
        return found is not None

    def record_image_view(self, match_id: int, actor: str, original: bool) -> None:
        """Written (and committed) before the image is read, so no view goes unrecorded."""
        with self._sessions.begin() as session:
            audit.record(
                session,
                actor,
                "evidence.view_original" if original else "evidence.view_blurred",
                f"match:{match_id}",
                {},
            )


def _check_text(field: str, value: str, *, multiline: bool = False) -> None:
    refused = refused_character(value, multiline=multiline)
    if refused is not None:
        raise InvalidReview(f"the {field} contains {refused}", field)


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
        found.setdefault(hit.match_id, []).append(
            HitDetail(
                hit.list_id,
                list_name,
                hit.entry_id,
                entry.external_id,
                entry.status,
                hit.algorithm,
                entry.hash_hex,
                hit.distance,
                hit.threshold,
                hit.variant,
                hit.action,
            )
        )
    return found


def _request_view(row: models.ReviewRequest) -> RequestView:
    return RequestView(
        row.id,
        row.match_id,
        row.customer_id,
        row.url,
        row.attestation,
        row.statement,
        row.requested_by,
        row.created_at,
        row.state,
        row.resolved_at,
    )


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
        tuple(_request_view(r) for r in requests),
        tuple(
            DecisionView(d.id, d.decision, d.actor, d.note, d.previous_state, d.override, d.decided_at)
            for d in decisions
        ),
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


def _resolve_requests(session: Session, match_id: int, decision_id: int, now: datetime) -> list[int]:
    rows = session.scalars(
        select(models.ReviewRequest).where(
            models.ReviewRequest.match_id == match_id, models.ReviewRequest.state == "open"
        )
    ).all()
    for row in rows:
        row.state, row.decision_id, row.resolved_at = "resolved", decision_id, now
    return [row.id for row in rows]


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


def _flag_entries(session: Session, match_id: int, actor: str, now: datetime) -> list[int]:
    """Flag the active entries the case hit: one new version of each list, so running servers
    drop them in place (``reporting.lists.changes``)."""
    by_list: dict[int, list[int]] = {}
    for hit in session.scalars(select(models.MatchHit).where(models.MatchHit.match_id == match_id)):
        entry = session.get(models.ListEntry, hit.entry_id)
        if entry is None or entry.status != "active" or entry.id in by_list.get(entry.list_id, []):
            continue
        session.add(
            models.EntryFlag(
                entry_id=entry.id,
                list_id=entry.list_id,
                match_id=match_id,
                flagged_by=actor,
                flagged_at=now,
                previous_status=entry.status,
                state="open",
                decided_by="",
            )
        )
        by_list.setdefault(entry.list_id, []).append(entry.id)
    session.flush()
    for list_id, entry_ids in by_list.items():
        set_entry_status(session, list_id, entry_ids, "flagged")
    return sorted(i for ids in by_list.values() for i in ids)


def _restore_flags(session: Session, match_id: int, actor: str, now: datetime) -> list[int]:
    """An admin confirming a case once called a false positive: its flags were wrong."""
    by_list: dict[tuple[int, str], list[int]] = {}
    flags = session.scalars(
        select(models.EntryFlag).where(
            models.EntryFlag.match_id == match_id, models.EntryFlag.state == "open"
        )
    ).all()
    for flag in flags:
        flag.state, flag.decided_by, flag.decided_at = "restored", actor, now
        others = session.scalar(
            select(func.count(models.EntryFlag.id)).where(
                models.EntryFlag.entry_id == flag.entry_id,
                models.EntryFlag.state == "open",
                models.EntryFlag.id != flag.id,
            )
        )
        status = session.scalar(select(models.ListEntry.status).where(models.ListEntry.id == flag.entry_id))
        if status == "flagged" and not others:
            by_list.setdefault((flag.list_id, flag.previous_status), []).append(flag.entry_id)
    session.flush()
    for (list_id, previous), entry_ids in by_list.items():
        set_entry_status(session, list_id, entry_ids, previous)
    return sorted(i for ids in by_list.values() for i in ids)
