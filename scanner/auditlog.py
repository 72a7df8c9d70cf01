"""What the audit log looks like to its readers (the Audit service, the CLI): records and pages.

A port, as ``scanner.recording`` is for matches: ``reporting.audit.AuditLog`` implements
``AuditReader``, and neither side needs the other's imports (no gRPC in ``reporting``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditEntries:
    entries: list[AuditEntry]
    # Pass as ``before_id`` for the next (older) page; 0 when there is none.
    next_before_id: int


class AuditReader(Protocol):
    def entries(self, limit: int, before_id: int = 0, action: str = "", actor: str = "") -> AuditEntries:
        """Up to ``limit`` records with ids below ``before_id`` (0: from the newest), newest first."""
        ...
