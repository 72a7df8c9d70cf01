"""Filing partner reports from the outbox.

The report row's recorded step is the whole of the idempotency story: it is persisted after
every step of the CyberTipline flow, in its own transaction, before the next call goes out, so
a worker killed anywhere resumes the same report and never opens a second one for the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from posixpath import basename
from urllib.parse import urlsplit

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from reporting import analytics, audit, models
from reporting.db import session_factory
from reporting.events import DeliveryResult, Event
from reporting.matches.evidence import EvidenceBox
from reporting.matches.evidence_store import EvidenceStore, EvidenceUnavailable
from reporting.partners.cybertipline import (
    FileDetails,
    PartnerError,
    Reporter,
    ReportState,
    ReportStep,
    build_report_xml,
    file_report,
    reportable_url,
)
from reporting.partners.cybertipline.config import client_from_settings
from reporting.partners.partner_webhook import PartnerWebhookConfig, PartnerWebhookReporter
from reporting.settings import ReportingSettings
from scanner.analytics.ports import REPORTS_FILED


@dataclass(frozen=True)
class ReportView:
    id: int
    match_id: int
    partner: str
    step: str
    partner_report_id: str
    last_error: str
    created_at: datetime
    finished_at: datetime | None


def list_reports(engine: Engine, limit: int = 100) -> list[ReportView]:
    with session_factory(engine)() as session:
        return [
            ReportView(
                r.id,
                r.match_id,
                r.partner,
                r.step,
                r.partner_report_id,
                r.last_error,
                r.created_at,
                r.finished_at,
            )
            for r in session.scalars(select(models.Report).order_by(models.Report.id.desc()).limit(limit))
        ]


def _count_filed(session: Session, report_id: int, at: datetime) -> None:
    customer_id = session.scalar(
        select(models.Match.customer_id)
        .join(models.Report, models.Report.match_id == models.Match.id)
        .where(models.Report.id == report_id)
    )
    if customer_id is not None:
        analytics.add(session, customer_id, analytics.utc_day(at), {REPORTS_FILED: 1})


class ReportConflict(PartnerError):
    retryable = True


class ReportFiler:
    def __init__(self, engine: Engine, settings: ReportingSettings, evidence: EvidenceBox | None) -> None:
        self._sessions = session_factory(engine)
        self.settings = settings
        self.evidence = EvidenceStore(engine, evidence)

    def file(self, event: Event, partner: str, actor: str = "worker") -> DeliveryResult:
        if partner in self.settings.partner_webhooks:
            return self._file_by_webhook(event, partner)
        if partner != "cybertipline":
            return DeliveryResult.failure(f"no report client for partner {partner!r}")
        match_id = event.case_id
        with self._sessions() as session:
            report = session.scalar(
                select(models.Report).where(
                    models.Report.match_id == match_id, models.Report.partner == partner
                )
            )
            match = session.get(models.Match, match_id)
            if report is None or match is None:
                return DeliveryResult.failure(f"no {partner} report requested for match {match_id}")
            report_id, url, detected_at = report.id, match.url, match.created_at
            # NCMEC asks whether a person at the provider looked at the file: true once an
            # analyst revealed it on the review page, never for a hash match alone.
            viewed = (
                session.scalar(
                    select(models.EvidenceReveal.id)
                    .where(models.EvidenceReveal.match_id == match_id)
                    .limit(1)
                )
                is not None
            )
            state = ReportState.from_dict(report.state)
            token = [report.updated_at]
        if state.done:
            return DeliveryResult.success(f"report {state.report_id} already {state.step}", state.report_id)
        try:
            client = client_from_settings(self.settings)
        except ValueError as exc:
            return DeliveryResult.failure(f"CyberTipline is not configured: {exc}")
        try:
            content = self.evidence.read(
                match_id, actor=actor, purpose=f"{partner} report for match {match_id}"
            )
        except EvidenceUnavailable as exc:
            return DeliveryResult.failure(f"cannot report without the evidence: {exc}")
        reporter = Reporter(
            first_name=self.settings.reporter_first_name,
            last_name=self.settings.reporter_last_name,
            email=self.settings.reporter_email,
            phone=self.settings.reporter_phone,
        )
        # A URL recorded before control characters were refused is filed percent-encoded.
        url, changed = reportable_url(url)
        name = basename(urlsplit(url).path) or f"match-{match_id}"
        try:
            with client:
                final = file_report(
                    client,
                    state,
                    content,
                    name,
                    report_xml=build_report_xml(
                        incident_time=detected_at,
                        urls=[url] if url else [],
                        reporter=reporter,
                        additional_info=changed,
                    ),
                    file_details=FileDetails(
                        original_file_name=name,
                        location_of_file=url,
                        file_viewed_by_esp=viewed,
                        additional_info=(changed,) if changed else (),
                    ),
                    persist=lambda new: self._persist(report_id, new, token),
                )
        except ReportConflict as exc:
            return DeliveryResult.retry(str(exc))
        except PartnerError as exc:
            self._note_error(report_id, str(exc))
            detail = f"CyberTipline: {exc}"
            return DeliveryResult.retry(detail) if exc.retryable else DeliveryResult.failure(detail)
        return DeliveryResult.success(f"CyberTipline report {final.report_id} {final.step}", final.report_id)

    def _file_by_webhook(self, event: Event, partner: str) -> DeliveryResult:
        try:
            config = PartnerWebhookConfig.from_config(
                {**self.settings.partner_webhooks[partner], "partner": partner},
                self.settings.http_timeout_seconds,
            )
        except ValueError as exc:
            return DeliveryResult.failure(f"partner {partner!r} is misconfigured: {exc}")
        with self._sessions() as session:
            report = session.scalar(
                select(models.Report).where(
                    models.Report.match_id == event.case_id, models.Report.partner == partner
                )
            )
            match = session.get(models.Match, event.case_id)
            evidence = session.scalar(
                select(models.Evidence).where(models.Evidence.match_id == event.case_id)
            )
            if report is None or match is None:
                return DeliveryResult.failure(f"no {partner} report requested for match {event.case_id}")
            if report.step == "finished":
                return DeliveryResult.success(f"report already filed as {report.partner_report_id}")
            document = {
                "match_id": match.id,
                "url": match.url,
                "detected_at": match.created_at.isoformat(),
                "hashes": dict(match.hashes),
                "content_sha256": evidence.sha256 if evidence is not None else "",
                "hits": [
                    {"entry_id": h.entry_id, "algorithm": h.algorithm, "distance": h.distance}
                    for h in match.hits
                ],
            }
            report_id = report.id
        result = PartnerWebhookReporter(config).report(event, document)
        if result.ok:
            now = models.utcnow()
            with self._sessions.begin() as session:
                # Only the first worker to finish the report records it (and counts it).
                finished = session.execute(
                    update(models.Report)
                    .where(models.Report.id == report_id, models.Report.step != "finished")
                    .values(step="finished", partner_report_id=result.external_id, finished_at=now)
                    .execution_options(synchronize_session=False)
                )
                if finished.rowcount == 1:  # type: ignore[attr-defined]
                    audit.record(
                        session, "worker", "report.filed", f"report:{report_id}", {"partner": partner}
                    )
                    _count_filed(session, report_id, now)
        else:
            self._note_error(report_id, result.detail)
        return result

    def _persist(self, report_id: int, state: ReportState, token: list[datetime]) -> None:
        """Store the step reached, only if nobody else wrote the row since we read it (compare
        and set on ``updated_at``): two workers whose leases overlapped cannot both advance one
        report; the loser stops before its next call to the partner."""
        now = models.utcnow()
        with self._sessions.begin() as session:
            result = session.execute(
                update(models.Report)
                .where(models.Report.id == report_id, models.Report.updated_at == token[0])
                .values(
                    state=state.to_dict(),
                    step=str(state.step),
                    partner_report_id=state.report_id,
                    partner_file_id=state.file_id,
                    finished_at=state.finished_at,
                    last_error="",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ReportConflict(f"report {report_id} was advanced by another worker; leaving it to them")
            if state.step == ReportStep.FINISHED:
                details = {"partner_report_id": state.report_id}
                audit.record(session, "worker", "report.filed", f"report:{report_id}", details)
                _count_filed(session, report_id, now)
        token[0] = now

    def _note_error(self, report_id: int, error: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(models.Report, report_id)
            if row is not None:
                row.last_error = error[:2000]
