"""The outbox worker against real receivers: an SMTP server and HTTP endpoints on port 0."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from index.hashes import Hash
from index.matcher import Matcher
from reporting import models
from reporting.destinations.admin import DestinationAdmin
from reporting.events import DeliveryResult, Event
from reporting.matches.blocks import Blocks
from reporting.matches.evidence import EvidenceBox
from reporting.outbox import Outbox
from reporting.partners.reports import ReportFiler
from reporting.settings import ReportingSettings
from reporting.store import ActionConfig, NewEntry, Store
from reporting.testing.fake_cybertipline import FakeCyberTipline
from reporting.testing.pagerduty_receiver import PagerDutyReceiver
from reporting.testing.smtp_sink import SmtpSink
from reporting.testing.webhook_receiver import WebhookReceiver
from reporting.worker import Worker
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
CONTENT = b"\x89PNG pretend image bytes that must never leave the evidence store"
SECRET = "whsec-test-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = models.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as server:
        yield server


def _settings(sink: SmtpSink, **extra: object) -> ReportingSettings:
    values: dict[str, object] = {
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_from": "hashwatch@test.example",
        "worker_max_attempts": 4,
        "http_timeout_seconds": 2.0,
        **extra,
    }
    return ReportingSettings.model_validate(values)


def _scan_match(store: Store, url: str = "https://shop.example/img/1.jpg", customer: str = "shop") -> int:
    hits = Matcher(store.matcher_inputs()).match([A])
    return store.record_match(
        ScanContext("r", customer, url, "198.51.100.7", "image/png"), [A], as_decided(store, hits), CONTENT
    )


@pytest.fixture
def acting(store: Store) -> Store:
    acting = Store(store.engine, ActionConfig(evidence=EvidenceBox(os.urandom(32))))
    acting.import_entries("csam", [NewEntry(A, "ncmec-1")])
    return acting


def test_a_match_reaches_email_and_a_correctly_signed_webhook(
    acting: Store, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    settings = _settings(sink)
    admin = DestinationAdmin(acting.engine, settings)
    admin.add("shop", "email", {"to": "abuse@shop.example"})
    admin.add("shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
    match_id = _scan_match(acting)

    worker = Worker(acting.engine, settings, acting.actions.evidence)
    assert worker.drain() == 2

    [mail] = sink.wait_for(1)
    message = mail.message
    assert mail.rcpt_tos == ("abuse@shop.example",)
    assert (
        "https://shop.example/img/1.jpg" in message.get_content() or "shop[.]example" in message.get_content()
    )
    assert not list(message.iter_attachments())
    assert CONTENT not in mail.data
    [request] = receiver.wait_for(1)
    assert receiver.valid_signatures()
    body = json.loads(request.body)
    assert body["kind"] == "match" and body["case_id"] == match_id
    assert request.header("x-hashwatch-event-id") == body["id"] == message["X-Hashwatch-Event-Id"]
    assert CONTENT.hex() not in request.body.decode()


def test_failures_are_retried_with_the_same_event_id_until_delivered(
    acting: Store, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    settings = _settings(sink)
    DestinationAdmin(acting.engine, settings).add(
        "shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True}
    )
    _scan_match(acting)
    receiver.fail_next(2, 503)
    clock = Clock()
    worker = Worker(acting.engine, settings, clock=clock)
    for _ in range(3):
        worker.run_once()
        clock.advance(settings.worker_backoff_max_seconds)
    assert len(receiver.seen) == 3
    assert len({r.header("x-hashwatch-event-id") for r in receiver.seen}) == 1
    with worker.outbox.sessions() as session:
        [delivery] = session.scalars(select(models.Delivery)).all()
        assert (delivery.state, delivery.attempts) == ("delivered", 3)


def test_a_permanent_refusal_is_dead_lettered_and_the_operators_hear_of_it(
    acting: Store, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    settings = _settings(sink)
    admin = DestinationAdmin(acting.engine, settings)
    admin.add("shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
    admin.add("_operators", "email", {"to": "oncall@hashwatch.example"})
    _scan_match(acting)
    receiver.fail_next(1, 400)
    Worker(acting.engine, settings).drain()
    [alert] = sink.wait_for(1)
    assert alert.rcpt_tos == ("oncall@hashwatch.example",)
    assert alert.message["X-Hashwatch-Event-Id"]
    with Worker(acting.engine, settings).outbox.sessions() as session:
        states = sorted(d.state for d in session.scalars(select(models.Delivery)))
    assert states == ["dead", "delivered"]


def test_too_many_retryable_failures_are_dead_lettered(
    acting: Store, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    settings = _settings(sink, worker_max_attempts=3)
    DestinationAdmin(acting.engine, settings).add(
        "shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True}
    )
    _scan_match(acting)
    receiver.fail_next(10, 500)
    clock = Clock()
    worker = Worker(acting.engine, settings, clock=clock)
    for _ in range(5):
        worker.run_once()
        clock.advance(settings.worker_backoff_max_seconds)
    assert len(receiver.seen) == 3
    with worker.outbox.sessions() as session:
        [delivery] = [
            d for d in session.scalars(select(models.Delivery)) if d.target.startswith("destination")
        ]
        assert (delivery.state, delivery.attempts) == ("dead", 3)
        assert "500" in delivery.last_error


def test_a_digest_destination_gets_one_message_per_period(acting: Store, sink: SmtpSink) -> None:
    settings = _settings(sink, digest_period_seconds=3600)
    DestinationAdmin(acting.engine, settings).add(
        "shop", "email", {"to": "owner@shop.example"}, mode="digest"
    )
    for n in range(3):
        _scan_match(acting, url=f"https://shop.example/img/{n}.jpg")
    clock = Clock()
    worker = Worker(acting.engine, settings, clock=clock)
    worker.drain()
    assert sink.messages == []
    clock.advance(3601)
    worker.drain()
    [digest] = sink.wait_for(1)
    text = digest.message.get_content()
    assert all(f"img/{n}[.]jpg" in text for n in range(3))
    worker.drain()
    clock.advance(3601)
    worker.drain()
    assert len(sink.messages) == 1
    with worker.outbox.sessions() as session:
        assert {d.state for d in session.scalars(select(models.Delivery))} == {"delivered"}


def test_a_block_the_hook_refuses_stays_pending_and_the_customer_is_told(
    store: Store, sink: SmtpSink, receiver: WebhookReceiver
) -> None:
    with WebhookReceiver(status=403) as hook:
        settings = _settings(sink, block_hook_url=hook.url)
        hooked = Store(store.engine, ActionConfig(block_hook=True))
        hooked.import_entries("csam", [NewEntry(A)])
        DestinationAdmin(hooked.engine, settings).add(
            "shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True}
        )
        _scan_match(hooked)
        Worker(hooked.engine, settings).drain()
        assert len(hook.requests) == 1
    [block] = Blocks(hooked.engine).all()
    assert block.state == "pending"
    kinds = [json.loads(r.body)["kind"] for r in receiver.requests]
    assert sorted(kinds) == ["block_failed", "match"]


def test_an_accepted_block_hook_activates_the_block(store: Store, sink: SmtpSink) -> None:
    with WebhookReceiver(status=200) as hook:
        settings = _settings(sink, block_hook_url=hook.url)
        hooked = Store(store.engine, ActionConfig(block_hook=True))
        hooked.import_entries("csam", [NewEntry(A)])
        _scan_match(hooked)
        Worker(hooked.engine, settings).drain()
        [request] = hook.requests
        assert json.loads(request.body)["url"] == "https://shop.example/img/1.jpg"
    [block] = Blocks(hooked.engine).all()
    assert block.state == "active"


def test_the_block_hook_ignores_proxies_in_the_environment(
    store: Store, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the guarded send like every destination: a proxy variable (here a dead one) never
    # carries the hook's request, nor a block's URL, anywhere else.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with WebhookReceiver(status=200) as hook:
        settings = _settings(sink, block_hook_url=hook.url)
        hooked = Store(store.engine, ActionConfig(block_hook=True))
        hooked.import_entries("csam", [NewEntry(A)])
        _scan_match(hooked)
        Worker(hooked.engine, settings).drain()
        assert len(hook.requests) == 1
    [block] = Blocks(hooked.engine).all()
    assert block.state == "active"


def test_send_test_delivers_a_test_event_and_records_it(acting: Store, sink: SmtpSink) -> None:
    settings = _settings(sink)
    admin = DestinationAdmin(acting.engine, settings)
    destination_id = admin.add("shop", "email", {"to": "owner@shop.example"})
    event_id = admin.queue_test(destination_id)
    Worker(acting.engine, settings).drain()
    [mail] = sink.wait_for(1)
    assert mail.message["X-Hashwatch-Event-Id"] == event_id
    [history] = admin.history(destination_id)
    assert (history.event_kind, history.state) == ("test", "delivered")


def test_pagerduty_is_triggered_per_case_and_resolved_when_the_case_closes(
    acting: Store, sink: SmtpSink
) -> None:
    with PagerDutyReceiver() as pagerduty:
        settings = _settings(sink)
        DestinationAdmin(acting.engine, settings).add(
            "shop",
            "pagerduty",
            {"routing_key": "R" * 32, "events_url": pagerduty.events_url, "allow_private": True},
        )
        match_id = _scan_match(acting)
        worker = Worker(acting.engine, settings)
        worker.drain()
        [block] = Blocks(acting.engine).all()
        Blocks(acting.engine).resolve(block.id, "false positive")
        worker.drain()
        assert [b["event_action"] for b in pagerduty.accepted] == ["trigger", "resolve"]
        assert {b["dedup_key"] for b in pagerduty.accepted} == {f"hashwatch-case-{match_id}"}
        assert pagerduty.alerts[f"hashwatch-case-{match_id}"].state == "resolved"


def test_a_list_reported_to_a_json_partner_files_once_with_an_idempotency_key(
    acting: Store, sink: SmtpSink
) -> None:
    with WebhookReceiver(secret="partner-secret-0123456789", status=201) as partner:
        settings = _settings(
            sink,
            partner_webhooks={
                "iwf": {"url": partner.url, "secret": "partner-secret-0123456789", "allow_private": True}
            },
        )
        acting.set_policy("csam", {"report": "immediately", "partner": "iwf", "notify": False})
        match_id = _scan_match(acting)
        partner.fail_next(1, 502)
        clock = Clock()
        worker = Worker(acting.engine, settings, clock=clock)
        worker.run_once()
        clock.advance(settings.worker_backoff_max_seconds)
        worker.drain()
        worker.drain()
        assert len(partner.seen) == 2
        assert len({r.header("idempotency-key") for r in partner.seen}) == 1
        assert partner.valid_signatures()
        [filed] = partner.requests
        document = json.loads(filed.body)["report"]
        assert document["match_id"] == match_id
        assert document["url"] == "https://shop.example/img/1.jpg"
        assert CONTENT.hex() not in filed.body.decode()
        with worker.outbox.sessions() as session:
            [report] = session.scalars(select(models.Report)).all()
            assert (report.partner, report.step) == ("iwf", "finished")


def test_two_workers_racing_on_one_report_file_it_once(acting: Store, sink: SmtpSink) -> None:
    with FakeCyberTipline() as partner:
        settings = _settings(
            sink,
            cybertipline_url=partner.url,
            cybertipline_username=partner.username,
            cybertipline_password="test-password",
            reporter_email="ts@hashwatch.example",
        )
        acting.set_policy("csam", {"report": "immediately", "notify": False})
        match_id = _scan_match(acting)
        filer = ReportFiler(acting.engine, settings, acting.actions.evidence)
        with Outbox(acting.engine).sessions() as session:
            [event] = session.scalars(select(models.Event).where(models.Event.kind == "report")).all()
            claimed = Event(
                event.id, event.kind, event.customer_id, event.created_at, event.case_id, event.payload
            )
        # Both submissions are held by the partner until both are in flight.
        partner.hang_next(2, seconds=1.0)
        results: list[DeliveryResult] = []
        threads = [
            threading.Thread(target=lambda: results.append(filer.file(claimed, "cybertipline")))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(r.ok for r in results) == [False, True]
        [lost] = [r for r in results if not r.ok]
        assert lost.retryable and "another worker" in lost.detail
        # The loser retrying later finds the report finished and files nothing more.
        assert filer.file(claimed, "cybertipline").ok
        [filed] = partner.finished_reports()
        assert len(filed.files) == 1
        with Outbox(acting.engine).sessions() as session:
            [report] = session.scalars(select(models.Report)).all()
        assert (report.match_id, report.step, report.partner_report_id) == (
            match_id,
            "finished",
            filed.report_id,
        )


def test_a_report_says_the_file_was_viewed_only_after_an_analyst_revealed_it(
    acting: Store, sink: SmtpSink
) -> None:
    with FakeCyberTipline() as partner:
        settings = _settings(
            sink,
            cybertipline_url=partner.url,
            cybertipline_username=partner.username,
            cybertipline_password="test-password",
            reporter_email="ts@hashwatch.example",
        )
        acting.set_policy("csam", {"report": "immediately", "notify": False})
        unseen = _scan_match(acting, url="https://shop.example/img/unseen.jpg")
        seen = _scan_match(acting, url="https://shop.example/img/seen.jpg")
        with Outbox(acting.engine).sessions.begin() as session:
            now = models.utcnow()
            session.add(
                models.EvidenceReveal(
                    match_id=seen, actor="analyst-1", day=f"{now:%Y-%m-%d}", valid_until=now
                )
            )
        Worker(acting.engine, settings, acting.actions.evidence).drain()
        viewed = {}
        for report in partner.finished_reports():
            [file] = report.files.values()
            assert file.details is not None
            viewed[report.urls[0]] = file.details.findtext(".//fileViewedByEsp")
        assert viewed == {
            f"https://shop.example/img/{name}.jpg": flag
            for name, flag in (("unseen", "false"), ("seen", "true"))
        }
        assert unseen != seen
