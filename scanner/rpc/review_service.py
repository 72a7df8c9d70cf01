"""The ``hashwatch.v1.Review`` servicer: the review queue over gRPC, never an image.

Storage is three backends, one per concern the RPCs reach: the queue (``ListMatches``,
``GetMatch``; ``reporting.review.queue.ReviewQueue``), decisions (``Decide``;
``reporting.review.decisions.Decisions``) and review requests (``RequestReview``;
``reporting.review.appeals.Appeals``). Their types are only named here for the type checker: the
scan path never loads the database layer. The actor of
every view and decision is the principal the auth interceptor verified, so the service is only
served with authentication on; an ``admin`` principal may re-decide a decided case. A token
bound to a customer (``customer:appeal``) reaches ``RequestReview`` only, for that customer's
cases only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import grpc
from google.protobuf import timestamp_pb2

from scanner.api.hashwatch.v1 import review_pb2 as pb
from scanner.api.hashwatch.v1 import review_pb2_grpc as pb_grpc
from scanner.auth import ADMIN, REVIEW_WRITE, PermissionDenied, Principal, current_principal
from scanner.errors import InvalidRequest
from scanner.rpc.service import Service

if TYPE_CHECKING:
    from reporting.review.values import (
        CaseDetail,
        CaseSummary,
        DecisionResult,
        QueuePage,
        RequestView,
        Reviewer,
    )

DEFAULT_PAGE = 50
MAX_PAGE = 500

_STATES = {
    "open": pb.CASE_STATE_OPEN,
    "escalated": pb.CASE_STATE_ESCALATED,
    "confirmed": pb.CASE_STATE_CONFIRMED,
    "false_positive": pb.CASE_STATE_FALSE_POSITIVE,
}
_DECISIONS = {
    pb.DECISION_CONFIRM: "confirm",
    pb.DECISION_FALSE_POSITIVE: "false_positive",
    pb.DECISION_ESCALATE: "escalate",
}
_DECISION_VALUES = {name: value for value, name in _DECISIONS.items()}
_ATTESTATIONS = {pb.ATTESTATION_NOT_AS_LISTED: "not_as_listed", pb.ATTESTATION_REMOVED: "removed"}
_ATTESTATION_VALUES = {name: value for value, name in _ATTESTATIONS.items()}


class QueueBackend(Protocol):
    def page(
        self,
        *,
        state: str = ...,
        customer_id: str = ...,
        list_name: str = ...,
        newest_first: bool = ...,
        limit: int = ...,
        page_token: str = ...,
    ) -> QueuePage: ...

    def case(self, match_id: int, viewer: str) -> CaseDetail: ...


class DecisionBackend(Protocol):
    def decide(self, match_id: int, decision: str, reviewer: Reviewer, note: str = ...) -> DecisionResult: ...


class AppealBackend(Protocol):
    def request_review(
        self,
        customer_id: str,
        attestation: str,
        statement: str,
        *,
        match_id: int = ...,
        url: str = ...,
        requested_by: str = ...,
        bound_customer: str | None = ...,
    ) -> RequestView: ...


class ReviewerFactory(Protocol):
    def __call__(self, actor: str, admin: bool) -> Reviewer: ...


class ReviewService(pb_grpc.ReviewServicer):
    def __init__(
        self,
        queue: QueueBackend,
        decisions: DecisionBackend,
        appeals: AppealBackend,
        reviewer: ReviewerFactory,
    ) -> None:
        self.queue = queue
        self.decisions = decisions
        self.appeals = appeals
        # ``reporting.review.values.Reviewer``; passed in so this module never imports it.
        self.reviewer = reviewer

    def served(self) -> Service:
        return Service.of(self, pb_grpc.add_ReviewServicer_to_server, pb, "Review")

    def ListMatches(
        self, request: pb.ListMatchesRequest, context: grpc.ServicerContext
    ) -> pb.ListMatchesResponse:
        _caller(context)
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative", field="page_size")
        page = self.queue.page(
            state=request.state or "pending",
            customer_id=request.customer_id,
            list_name=request.list_name,
            newest_first=request.newest_first,
            limit=min(request.page_size or DEFAULT_PAGE, MAX_PAGE),
            page_token=request.page_token,
        )
        return pb.ListMatchesResponse(
            cases=[_summary(c) for c in page.cases], next_page_token=page.next_page_token
        )

    def GetMatch(self, request: pb.GetMatchRequest, context: grpc.ServicerContext) -> pb.Case:
        caller = _caller(context)
        if request.match_id <= 0:
            raise InvalidRequest("match_id is required", field="match_id")
        return _case(self.queue.case(request.match_id, caller.actor))

    def Decide(self, request: pb.DecideRequest, context: grpc.ServicerContext) -> pb.DecideResponse:
        caller = _caller(context)
        if request.match_id <= 0:
            raise InvalidRequest("match_id is required", field="match_id")
        decision = _DECISIONS.get(request.decision)
        if decision is None:
            raise InvalidRequest("decision must be confirm, false positive or escalate", field="decision")
        reviewer = self.reviewer(caller.actor, ADMIN in caller.granted)
        # PermissionDenied ("only an admin may re-decide") is mapped by the error interceptor.
        result = self.decisions.decide(request.match_id, decision, reviewer, request.note)
        return pb.DecideResponse(
            decision_id=result.decision_id,
            state=_STATES[result.state],
            override=result.override,
            report_requested=result.report_requested,
            block_resolved=result.block_resolved,
            flagged_entry_ids=result.flagged_entries,
            restored_entry_ids=result.restored_entries,
            resolved_review_request_ids=result.resolved_requests,
        )

    def RequestReview(
        self, request: pb.RequestReviewRequest, context: grpc.ServicerContext
    ) -> pb.ReviewRequestInfo:
        caller = _caller(context)
        if caller.customer_id is None and not caller.allows({REVIEW_WRITE}):
            # customer:appeal without its customer (a token row edited by hand): nobody's cases.
            raise PermissionDenied(f"{caller.actor} holds a customer scope without a customer")
        attestation = _ATTESTATIONS.get(request.attestation)
        if attestation is None:
            raise InvalidRequest("attestation must be not_as_listed or removed", field="attestation")
        view = self.appeals.request_review(
            request.customer_id,
            attestation,
            request.statement,
            match_id=request.match_id,
            url=request.url,
            requested_by=caller.actor,
            # A customer's token appeals its own customer's cases; any other reads as absent.
            bound_customer=caller.customer_id,
        )
        return _request(view)


def _caller(context: grpc.ServicerContext) -> Principal:
    principal = current_principal()
    if principal is None:
        # create_server only serves Review behind the auth interceptor; be closed regardless.
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "the review service needs an authenticated caller")
    return principal


def _time(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _summary(case: CaseSummary) -> pb.CaseSummary:
    return pb.CaseSummary(
        match_id=case.match_id,
        created_at=_time(case.created_at),
        customer_id=case.customer_id,
        url=case.url,
        state=_STATES.get(case.state, pb.CASE_STATE_UNSPECIFIED),
        priority=case.priority,
        lists=list(case.lists),
        algorithm=case.algorithm,
        distance=case.distance,
        open_review_requests=case.open_requests,
    )


def _request(view: RequestView) -> pb.ReviewRequestInfo:
    return pb.ReviewRequestInfo(
        id=view.id,
        match_id=view.match_id,
        customer_id=view.customer_id,
        url=view.url,
        attestation=_ATTESTATION_VALUES.get(view.attestation, pb.ATTESTATION_UNSPECIFIED),
        statement=view.statement,
        requested_by=view.requested_by,
        created_at=_time(view.created_at),
        state=view.state,
        resolved_at=_time(view.resolved_at),
    )


def _case(case: CaseDetail) -> pb.Case:
    return pb.Case(
        match_id=case.match_id,
        created_at=_time(case.created_at),
        request_id=case.request_id,
        customer_id=case.customer_id,
        url=case.url,
        client_ip=case.client_ip,
        content_type=case.content_type,
        hashes={k: str(v) for k, v in case.hashes.items()},
        source=case.source,
        state=_STATES.get(case.state, pb.CASE_STATE_UNSPECIFIED),
        priority=case.priority,
        decided_by=case.decided_by,
        decided_at=_time(case.decided_at),
        note=case.note,
        hits=[
            pb.CaseHit(
                list_id=h.list_id,
                list_name=h.list_name,
                entry_id=h.entry_id,
                external_id=h.external_id,
                entry_status=h.entry_status,
                algorithm=h.algorithm,
                hash=h.hash_hex,
                distance=h.distance,
                threshold=h.threshold,
                variant=h.variant,
                action=h.action,
            )
            for h in case.hits
        ],
        block_state=case.block_state,
        report_partner=case.report_partner,
        report_step=case.report_step,
        evidence_available=case.evidence_available,
        evidence_sha256=case.evidence_sha256,
        evidence_size=case.evidence_size,
        review_requests=[_request(r) for r in case.requests],
        decisions=[
            pb.DecisionRecord(
                id=d.id,
                decision=_DECISION_VALUES.get(d.decision, pb.DECISION_UNSPECIFIED),
                actor=d.actor,
                note=d.note,
                previous_state=_STATES.get(d.previous_state, pb.CASE_STATE_UNSPECIFIED),
                override=d.override,
                decided_at=_time(d.decided_at),
            )
            for d in case.decisions
        ],
    )
