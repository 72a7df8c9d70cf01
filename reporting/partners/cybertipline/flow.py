"""Filing one case as one CyberTipline report, resumably: submit → upload → fileinfo → finish.

The caller persists the ``ReportState`` it is handed after every step (``persist``), before the
next call goes out. Called again with the last persisted state, after a crash anywhere, the flow
continues from that step: it never opens a second report while it holds a report id.

What cannot be made exact, and what happens instead:

* a crash after NCMEC opened a report but before ``persist`` stored its id leaves a draft we do
  not know about; NCMEC deletes unfinished drafts (1 h idle, 24 h at most), so it is never filed;
* an upload whose outcome we did not record (a crash, a timeout, a lost answer) may have added
  the file to the draft: rather than upload it twice into one report, the flow retracts that
  draft and starts a fresh one (``upload_started`` marks the attempt; a retracted draft was never
  a report). Only an upload that certainly never reached NCMEC is simply tried again;
* a crash after ``finish`` succeeded is harmless: finishing again answers 5102, which is success.

``persist`` must be a compare-and-set: it should refuse (raise) when the stored state is no
longer the one this call last wrote, e.g. because the worker's lease ran out and another worker
took the report over. Otherwise two workers with overlapping leases could each open a report.

A draft NCMEC no longer has (5001: expired) or that was retracted (5101) was never filed, so the
flow starts a fresh report (at most ``max_restarts`` times). A draft older than ``stale_after``
is retracted first and started afresh, before NCMEC's 24-hour limit can expire it mid-flow.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from reporting.partners.cybertipline.client import CyberTiplineClient
from reporting.partners.cybertipline.errors import (
    PartnerError,
    ReportAlreadyFinished,
    ReportAlreadyRetracted,
    ReportNotFound,
)
from reporting.partners.cybertipline.reportxml import FileDetails

STALE_AFTER = timedelta(hours=23)


class ReportStep(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    UPLOADED = "uploaded"
    FILEINFO = "fileinfo"
    FINISHED = "finished"
    RETRACTED = "retracted"


@dataclass(frozen=True)
class ReportState:
    step: ReportStep = ReportStep.NEW
    report_id: str = ""
    file_id: str = ""
    file_md5: str = ""
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    # Set (and persisted) just before the upload call; see the module docstring.
    upload_started: bool = False
    # Drafts NCMEC lost (expired) or someone retracted; bounded by ``max_restarts``.
    restarts: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form to store (e.g. the ``state`` column); ``from_dict`` reads it back."""
        return {
            "step": self.step.value,
            "report_id": self.report_id,
            "file_id": self.file_id,
            "file_md5": self.file_md5,
            "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "upload_started": self.upload_started,
            "restarts": self.restarts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportState:
        if not data:
            return cls()

        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(
            step=ReportStep(data.get("step", "new")),
            report_id=str(data.get("report_id", "")),
            file_id=str(data.get("file_id", "")),
            file_md5=str(data.get("file_md5", "")),
            submitted_at=when("submitted_at"),
            finished_at=when("finished_at"),
            upload_started=bool(data.get("upload_started", False)),
            restarts=int(data.get("restarts", 0)),
        )

    @property
    def done(self) -> bool:
        return self.step in (ReportStep.FINISHED, ReportStep.RETRACTED)


class ReportRestartLimit(PartnerError):
    """NCMEC lost our draft more often than ``max_restarts``: stop and let a person look."""

    alert = True


def file_report(
    client: CyberTiplineClient,
    state: ReportState,
    evidence_bytes: bytes,
    filename: str,
    *,
    report_xml: bytes,
    file_details: FileDetails,
    persist: Callable[[ReportState], None],
    max_restarts: int = 3,
    stale_after: timedelta = STALE_AFTER,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReportState:
    """Continue filing from ``state`` to FINISHED; returns the final state.

    Raises ``PartnerError`` (see ``retryable`` / ``alert``) with every step reached so far
    already persisted; call again with the last persisted state to resume.
    """
    if state.done:
        return state
    md5 = hashlib.md5(evidence_bytes, usedforsecurity=False).hexdigest()
    details = replace(file_details, original_md5=file_details.original_md5 or md5)

    def advance(new: ReportState) -> ReportState:
        persist(new)
        return new

    def start_over(current: ReportState, *, counted: bool = True) -> ReportState:
        if counted and current.restarts >= max_restarts:
            raise ReportRestartLimit(
                f"CyberTipline lost or retracted our draft {current.restarts + 1} times "
                f"(last {current.report_id})"
            )
        return advance(ReportState(restarts=current.restarts + (1 if counted else 0)))

    while True:
        try:
            if state.step != ReportStep.NEW and _stale(state, now(), stale_after):
                _retract_quietly(client, state.report_id)
                state = start_over(state)
            if state.step == ReportStep.NEW:
                report_id = client.submit(report_xml)
                state = advance(
                    replace(state, step=ReportStep.SUBMITTED, report_id=report_id, submitted_at=now())
                )
            if state.step == ReportStep.SUBMITTED and state.upload_started:
                # An earlier upload may have landed; a clean draft beats a file filed twice.
                _retract_quietly(client, state.report_id)
                state = start_over(state, counted=False)
                continue
            if state.step == ReportStep.SUBMITTED:
                state = advance(replace(state, upload_started=True))
                try:
                    uploaded = client.upload(state.report_id, filename, evidence_bytes)
                except PartnerError as exc:
                    if not exc.request_sent:
                        state = advance(replace(state, upload_started=False))
                    raise
                state = advance(
                    replace(state, step=ReportStep.UPLOADED, file_id=uploaded.file_id, file_md5=uploaded.md5)
                )
            if state.step == ReportStep.UPLOADED:
                client.file_info(
                    state.report_id, state.file_id, details.to_xml(state.report_id, state.file_id)
                )
                state = advance(replace(state, step=ReportStep.FILEINFO))
            if state.step == ReportStep.FILEINFO:
                client.finish(state.report_id)
                state = advance(replace(state, step=ReportStep.FINISHED, finished_at=now()))
            return state
        except ReportAlreadyFinished:
            # Our earlier finish went through; nothing more can or need be sent.
            return advance(replace(state, step=ReportStep.FINISHED, finished_at=state.finished_at or now()))
        except (ReportNotFound, ReportAlreadyRetracted):
            if state.step == ReportStep.NEW:
                raise
            state = start_over(state)


def abandon_report(
    client: CyberTiplineClient, state: ReportState, persist: Callable[[ReportState], None]
) -> ReportState:
    """Retract an unfinished draft (a stale one, or a case closed before it was filed)."""
    if state.step == ReportStep.FINISHED:
        raise ReportAlreadyFinished(f"report {state.report_id} is finished and cannot be retracted")
    if state.step in (ReportStep.NEW, ReportStep.RETRACTED):
        new = replace(state, step=ReportStep.RETRACTED)
    else:
        _retract_quietly(client, state.report_id)
        new = replace(state, step=ReportStep.RETRACTED)
    persist(new)
    return new


def _retract_quietly(client: CyberTiplineClient, report_id: str) -> None:
    # Already expired: nothing left to retract.
    with contextlib.suppress(ReportNotFound):
        client.retract(report_id)


def _stale(state: ReportState, current: datetime, stale_after: timedelta) -> bool:
    return state.submitted_at is not None and current - state.submitted_at > stale_after
