"""Filing partner reports from the outbox (placeholder until the partner clients land)."""

from __future__ import annotations

from sqlalchemy import Engine

from reporting.events import DeliveryResult
from reporting.evidence import EvidenceBox
from reporting.settings import ReportingSettings


class ReportFiler:
    def __init__(self, engine: Engine, settings: ReportingSettings, evidence: EvidenceBox | None) -> None:
        self.engine = engine
        self.settings = settings
        self.evidence = evidence

    def file(self, match_id: int, partner: str, customer_id: str) -> DeliveryResult:
        return DeliveryResult.retry(f"partner {partner!r} filing not wired yet (match {match_id})")
