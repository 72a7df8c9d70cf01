"""What the review code hands out: case states, decisions and attestations, who acts, and the
views of cases, hits, review requests, decisions, entry flags and exposure.

Frozen values only, no database access: the gRPC servicer names them for its type checker
without loading the database layer. The ``of`` constructors read a row the caller already holds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scanner.decision import describe_hit

if TYPE_CHECKING:
    from reporting import models


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
# A case's place in the queue: escalated cases first, then appealed ones, then the rest.
PRIORITY_ESCALATED = 2
PRIORITY_APPEALED = 1
# Queue filters beyond the case states: what still needs someone, and everything.
PENDING = "pending"
ALL = "all"
APPEALED = "appealed"
STATE_FILTERS = frozenset({PENDING, ALL, APPEALED, *CaseState})


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

    @classmethod
    def of(cls, hit: models.MatchHit, list_name: str, entry: models.ListEntry) -> HitDetail:
        return cls(
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

    @classmethod
    def of(cls, row: models.ReviewRequest) -> RequestView:
        return cls(
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


@dataclass(frozen=True)
class DecisionView:
    id: int
    decision: str
    actor: str
    note: str
    previous_state: str
    override: bool
    decided_at: datetime

    @classmethod
    def of(cls, row: models.ReviewDecision) -> DecisionView:
        return cls(
            row.id, row.decision, row.actor, row.note, row.previous_state, row.override, row.decided_at
        )


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

    @classmethod
    def of(cls, flag: models.EntryFlag, list_name: str, entry: models.ListEntry) -> FlagView:
        return cls(
            flag.id,
            entry.id,
            list_name,
            entry.external_id,
            entry.algorithm,
            entry.hash_hex,
            flag.match_id,
            flag.flagged_by,
            flag.flagged_at,
            flag.state,
            flag.decided_by,
        )


@dataclass(frozen=True)
class Exposure:
    """How many images an analyst has revealed today, of how many allowed."""

    used: int
    limit: int

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)
