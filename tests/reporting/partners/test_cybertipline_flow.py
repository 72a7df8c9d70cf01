"""The resumable filing flow: a crash at any point, then a restart, files exactly one report."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reporting.partners.cybertipline import (
    CyberTiplineClient,
    FileDetails,
    PartnerRejected,
    PartnerUnavailable,
    Reporter,
    ReportRestartLimit,
    ReportState,
    ReportStep,
    abandon_report,
    build_report_xml,
    file_report,
)
from reporting.partners.cybertipline.errors import ReportAlreadyFinished
from reporting.testing.fake_cybertipline import FakeCyberTipline

USER, PASSWORD = "hashwatch-test", "test-password"
EVIDENCE = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes all the same"
REPORT_XML = build_report_xml(
    incident_time=datetime(2026, 11, 26, 8, 15, tzinfo=UTC),
    urls=["https://shop.example/img/1.jpg"],
    reporter=Reporter("Ada", "Operator", "trust@hashwatch.example"),
)
DETAILS = FileDetails(original_file_name="1.jpg", location_of_file="https://shop.example/img/1.jpg")


class Crash(Exception):
    """The process died."""


class Store:
    """What the reports table does: keeps the last state handed to ``persist``.

    ``crash_at`` kills the process at the n-th persist, either before the state is written
    (the step happened at NCMEC but we never recorded it) or just after.
    """

    def __init__(self, crash_at: int | None = None, before_write: bool = True) -> None:
        self.saved: dict[str, object] = ReportState().to_dict()
        self.calls = 0
        self.crash_at = crash_at
        self.before_write = before_write

    def persist(self, state: ReportState) -> None:
        self.calls += 1
        crashing = self.calls == self.crash_at
        if crashing and self.before_write:
            raise Crash
        self.saved = state.to_dict()
        if crashing:
            raise Crash

    @property
    def state(self) -> ReportState:
        return ReportState.from_dict(self.saved)


@pytest.fixture
def fake() -> Iterator[FakeCyberTipline]:
    with FakeCyberTipline(USER, PASSWORD) as server:
        yield server


@pytest.fixture
def client(fake: FakeCyberTipline) -> Iterator[CyberTiplineClient]:
    with CyberTiplineClient(fake.url, USER, PASSWORD, timeout=2.0) as c:
        yield c


def run(client: CyberTiplineClient, store: Store, **kwargs: object) -> ReportState:
    return file_report(
        client,
        store.state,
        EVIDENCE,
        "1.jpg",
        report_xml=REPORT_XML,
        file_details=DETAILS,
        persist=store.persist,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_report_is_filed_with_every_step_persisted(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    seen: list[ReportStep] = []
    store = Store()

    def persist(state: ReportState) -> None:
        seen.append(state.step)
        store.persist(state)

    final = file_report(
        client, ReportState(), EVIDENCE, "1.jpg", report_xml=REPORT_XML, file_details=DETAILS, persist=persist
    )
    submitted, uploaded_, fileinfo, finished = (
        ReportStep.SUBMITTED,
        ReportStep.UPLOADED,
        ReportStep.FILEINFO,
        ReportStep.FINISHED,
    )
    # The second SUBMITTED is the upload marker, persisted before the upload goes out.
    assert seen == [submitted, submitted, uploaded_, fileinfo, finished]
    assert final == store.state and final.step == ReportStep.FINISHED
    (report,) = fake.reports
    assert report.state == "finished" and report.report_id == final.report_id
    (uploaded,) = report.files.values()
    assert uploaded.md5 == final.file_md5
    assert uploaded.details is not None
    assert uploaded.details.findtext("originalFileHash") == final.file_md5  # filled from the evidence
    # Called again once finished, it sends nothing.
    requests = len(fake.seen)
    assert run(client, store) == final
    assert len(fake.seen) == requests


# persist() is called with, in order: 1 SUBMITTED, 2 the upload marker, 3 UPLOADED, 4 FILEINFO,
# 5 FINISHED. A crash "before write" is the worst moment: NCMEC did the step, we did not record it.
LEFT_BEHIND = {
    (1, True): ["open"],  # a draft whose id we never learnt: NCMEC deletes it unfinished
    (2, False): ["retracted"],  # the upload may have landed: that draft is retracted
    (3, True): ["retracted"],  # the upload landed but its file id was lost: likewise
}


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("before_write", [True, False])
def test_a_crash_at_any_step_then_a_restart_files_exactly_one_report(
    fake: FakeCyberTipline, client: CyberTiplineClient, crash_at: int, before_write: bool
) -> None:
    store = Store(crash_at=crash_at, before_write=before_write)
    with pytest.raises(Crash):
        run(client, store)
    final = run(client, store)  # the restarted worker, from the last persisted state
    assert final.step == ReportStep.FINISHED
    finished = fake.finished_reports()
    assert [r.report_id for r in finished] == [final.report_id]
    assert len(finished[0].files) == 1  # the evidence, once, with its details
    assert all(f.details is not None for f in finished[0].files.values())
    others = [r.state for r in fake.reports if r.report_id != final.report_id]
    assert others == LEFT_BEHIND.get((crash_at, before_write), [])
    assert final.restarts == 0  # none of this counts as NCMEC losing a draft


# The calls, and the persist count at which the state is just before each of them.
CALLS = {"submit": 0, "upload": 1, "fileinfo": 3, "finish": 4}


@pytest.mark.parametrize("call", list(CALLS))
def test_an_outage_at_any_step_is_retryable_and_resumes(
    fake: FakeCyberTipline, client: CyberTiplineClient, call: str
) -> None:
    store = Store(crash_at=CALLS[call] or None, before_write=False)
    if CALLS[call]:
        with pytest.raises(Crash):
            run(client, store)
        store.crash_at = None
    before = store.state.step
    fake.fail_next(1, 503)
    with pytest.raises(PartnerUnavailable) as caught:
        run(client, store)
    assert caught.value.retryable
    assert store.state.step == before
    assert run(client, store).step == ReportStep.FINISHED
    assert len(fake.finished_reports()) == 1
    # After an upload with an unknown outcome the draft is replaced rather than risk a second file.
    assert len(fake.reports) == (2 if call == "upload" else 1)


def test_an_upload_that_never_left_is_simply_retried(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    store = Store(crash_at=1, before_write=False)
    with pytest.raises(Crash):
        run(client, store)
    store.crash_at = None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    with CyberTiplineClient(f"http://127.0.0.1:{dead_port}/ispws", USER, PASSWORD, timeout=1) as down:
        with pytest.raises(PartnerUnavailable) as caught:
            run(down, store)
        assert not caught.value.request_sent
    assert store.state.step == ReportStep.SUBMITTED and not store.state.upload_started
    final = run(client, store)
    assert len(fake.reports) == 1 and final.report_id == fake.finished_reports()[0].report_id


def test_a_finish_whose_answer_was_lost_is_not_sent_twice(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    store = Store(crash_at=4, before_write=False)  # stop once FILEINFO is recorded
    with pytest.raises(Crash):
        run(client, store)
    fake.fail_next(1, 502, after_commit=True)  # NCMEC finished the report, the reply was lost
    with pytest.raises(PartnerUnavailable):
        run(client, store)
    assert store.state.step == ReportStep.FILEINFO
    assert run(client, store).step == ReportStep.FINISHED  # 5102 counts as done
    assert len(fake.finished_reports()) == 1 and len(fake.reports) == 1


def test_an_expired_draft_is_started_afresh(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    store = Store(crash_at=3, before_write=False)  # the worker died after the upload
    with pytest.raises(Crash):
        run(client, store)
    first = store.state.report_id
    fake.expire_drafts_now()  # and stayed down past NCMEC's clean-up
    final = run(client, store)
    assert final.step == ReportStep.FINISHED and final.report_id != first and final.restarts == 1
    assert fake.report(first).state == "expired"
    assert [r.report_id for r in fake.finished_reports()] == [final.report_id]


def test_a_stale_draft_is_retracted_then_started_afresh(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    store = Store(crash_at=1, before_write=False)
    with pytest.raises(Crash):
        run(client, store)
    first = store.state.report_id
    later = datetime.now(UTC) + timedelta(hours=23, minutes=30)
    final = run(client, store, now=lambda: later)
    assert fake.report(first).state == "retracted"
    assert final.step == ReportStep.FINISHED and final.report_id != first
    assert len(fake.finished_reports()) == 1


def test_restarts_are_bounded(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    store = Store()
    store.saved = ReportState(step=ReportStep.SUBMITTED, report_id="31337", restarts=3).to_dict()
    with pytest.raises(ReportRestartLimit) as caught:
        run(client, store)
    assert caught.value.alert and not caught.value.retryable
    assert fake.reports == []


def test_a_rejected_report_is_not_retried_and_nothing_is_recorded(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    store = Store()
    with pytest.raises(PartnerRejected) as caught:
        file_report(
            client,
            ReportState(),
            EVIDENCE,
            "1.jpg",
            report_xml=b"<report>",
            file_details=DETAILS,
            persist=store.persist,
        )
    assert caught.value.code == 4110 and not caught.value.retryable
    assert store.calls == 0


def test_abandoning_retracts_an_unfinished_draft(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    store = Store(crash_at=3, before_write=False)
    with pytest.raises(Crash):
        run(client, store)
    abandoned = abandon_report(client, store.state, store.persist)
    assert abandoned.step == ReportStep.RETRACTED == store.state.step
    assert fake.report(abandoned.report_id).state == "retracted"
    assert run(client, store) == abandoned  # a retracted case is not filed behind our back
    finished = ReportState(step=ReportStep.FINISHED, report_id="1")
    with pytest.raises(ReportAlreadyFinished):
        abandon_report(client, finished, store.persist)


def test_state_round_trips_through_json() -> None:
    state = ReportState(
        step=ReportStep.UPLOADED,
        report_id="100001",
        file_id="abc",
        file_md5="d41d8cd98f00b204e9800998ecf8427e",
        submitted_at=datetime(2026, 11, 26, 8, tzinfo=UTC),
        restarts=1,
    )
    assert ReportState.from_dict(state.to_dict()) == state
    assert ReportState.from_dict({}) == ReportState()
