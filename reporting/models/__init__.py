"""Database models (SQLAlchemy 2 typed ORM). The schema itself is owned by the Alembic
migrations in ``reporting/migrations``; these classes must agree with them (a test checks)."""

from reporting.models.access import (
    Analyst,
    ApiToken,
    AuditHead,
    AuditRecord,
    RecoveryCode,
    SecretsKeyCheck,
)
from reporting.models.actions import (
    CUSTOMER_OWNED,
    OPERATOR_OWNED,
    Block,
    Delivery,
    Destination,
    Event,
)
from reporting.models.analytics import CountBatch, DailyCount
from reporting.models.base import Base, BigId, UtcDateTime, utcnow
from reporting.models.customers import (
    Customer,
    CustomersHead,
    CustomerSite,
    EmailVerification,
    VerificationMail,
)
from reporting.models.lists import EntryHold, HashList, ListEntry
from reporting.models.matches import Match, MatchHit
from reporting.models.reports import Evidence, EvidenceAccess, Report
from reporting.models.rescans import RescanSeen, ScanHashLog
from reporting.models.review import (
    CaseReview,
    EntryFlag,
    EvidenceReveal,
    ReviewDecision,
    ReviewRequest,
    WebSession,
)

__all__ = [
    "CUSTOMER_OWNED",
    "OPERATOR_OWNED",
    "Analyst",
    "ApiToken",
    "AuditHead",
    "AuditRecord",
    "Base",
    "BigId",
    "Block",
    "CaseReview",
    "CountBatch",
    "Customer",
    "CustomerSite",
    "CustomersHead",
    "DailyCount",
    "Delivery",
    "Destination",
    "EmailVerification",
    "EntryFlag",
    "EntryHold",
    "Event",
    "Evidence",
    "EvidenceAccess",
    "EvidenceReveal",
    "HashList",
    "ListEntry",
    "Match",
    "MatchHit",
    "RecoveryCode",
    "Report",
    "RescanSeen",
    "ReviewDecision",
    "ReviewRequest",
    "ScanHashLog",
    "SecretsKeyCheck",
    "UtcDateTime",
    "VerificationMail",
    "WebSession",
    "utcnow",
]
