"""Issue-level check: a listed image scanned for a customer with an email and a webhook
destination, through the real server, a real SMTP server, a real HTTP receiver and the fake
CyberTipline, with the worker killed (SIGKILL) in the middle of deliveries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from reporting import models
from reporting.destinations.admin import DestinationAdmin
from reporting.settings import ReportingSettings
from reporting.testing.fake_cybertipline import FakeCyberTipline
from reporting.testing.smtp_sink import SmtpSink
from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

SECRET = "e2e-webhook-secret"
URL = "https://shop.example/uploads/rocket.jpg"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def world(
    database_url: str, tmp_path: Path
) -> Iterator[tuple[App, dict[str, str], SmtpSink, WebhookReceiver, FakeCyberTipline]]:
    with SmtpSink() as sink, WebhookReceiver(secret=SECRET) as receiver, FakeCyberTipline() as partner:
        env = {
            "HASHWATCH_DATA_DIR": str(tmp_path / "var"),
            "HASHWATCH_DATABASE_URL": database_url,
            "HASHWATCH_SMTP_HOST": sink.host,
            "HASHWATCH_SMTP_PORT": str(sink.port),
            "HASHWATCH_SMTP_FROM": "hashwatch@test.example",
            "HASHWATCH_CYBERTIPLINE_URL": partner.url,
            "HASHWATCH_CYBERTIPLINE_USERNAME": partner.username,
            "HASHWATCH_CYBERTIPLINE_PASSWORD": "test-password",
            "HASHWATCH_REPORTER_FIRST_NAME": "Trust",
            "HASHWATCH_REPORTER_LAST_NAME": "Safety",
            "HASHWATCH_REPORTER_EMAIL": "ts@hashwatch.example",
            "HASHWATCH_WORKER_LEASE_SECONDS": "2",
            "HASHWATCH_WORKER_POLL_SECONDS": "0.1",
            "HASHWATCH_HTTP_TIMEOUT_SECONDS": "30",
            "HASHWATCH_LOG_JSON": "true",
        }
        reporting = ReportingSettings.model_validate(
            {k.removeprefix("HASHWATCH_").lower(): v for k, v in env.items()}
        )
        settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2)
        app = build_app(settings, reporting)
        import_demo_list(app)
        app.store.set_policy("demo", {"report": "immediately"})
        app.sync_lists()  # the server follows the policy, as its list poll does
        admin = DestinationAdmin(app.store.engine, reporting)
        admin.add("shop", "email", {"to": "abuse@shop.example"})
        admin.add("shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
        app.server.start()
        try:
            yield app, env, sink, receiver, partner
        finally:
            app.server.drain(grace_seconds=2)
            app.store.engine.dispose()


def _worker(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / "worker.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "scanner", "worker", *args],
            env={**os.environ, **env},
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def _deliveries(app: App) -> list[tuple[str, str]]:
    with app.store._sessions() as session:
        return sorted((d.target, d.state) for d in session.scalars(select(models.Delivery)))


def test_match_to_email_webhook_block_and_one_report_despite_kill_9(
    world: tuple[App, dict[str, str], SmtpSink, WebhookReceiver, FakeCyberTipline], tmp_path: Path
) -> None:
    app, env, sink, receiver, partner = world
    with grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
        stub = pb_grpc.ScannerStub(channel)
        reply = stub.Scan(
            pb.ScanRequest(
                request_id="e2e",
                customer_id="shop",
                url=URL,
                content=(DEMO_LIST / "skimage_rocket.jpg").read_bytes(),
            ),
            timeout=30,
        )
        assert reply.verdict == pb.VERDICT_BLOCK
        [block] = stub.Blocks(pb.BlocksRequest(customer_id="shop", urls=[URL]), timeout=10).blocks
        assert block.state == pb.BLOCK_STATE_ACTIVE

    # 1. Kill the worker while the webhook receiver holds its request.
    receiver.hang_next(1, seconds=6)
    worker = _worker(env, tmp_path)
    _wait(lambda: len(receiver.seen) == 1, 30, "the webhook request")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    # 2. Kill the next worker while the partner holds the report submission.
    partner.hang_next(1, seconds=6)
    worker = _worker(env, tmp_path)
    _wait(lambda: len(partner.seen) >= 1, 30, "the partner submission")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    # 3. A healthy worker finishes everything once the dead workers' leases run out.
    time.sleep(2.5)
    worker = _worker(env, tmp_path)
    _wait(lambda: all(state == "delivered" for _, state in _deliveries(app)), 60, "every delivery")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0

    assert [t for t, _ in _deliveries(app)] == ["destination:1", "destination:2", "report:cybertipline"]
    with app.store._sessions() as session:
        [event] = session.scalars(select(models.Event).where(models.Event.kind == "match")).all()
        [report] = session.scalars(select(models.Report)).all()

    # Email: at least once, every copy the same event, no image bytes, no attachment.
    mails = sink.wait_for(1)
    assert {m.message["X-Hashwatch-Event-Id"] for m in mails} == {event.id}
    content = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
    for mail in mails:
        assert content[:64] not in mail.data
        assert not list(mail.message.iter_attachments())

    # Webhook: every request correctly signed, duplicates only of the same event id.
    requests = receiver.wait_for(2, timeout=10)
    assert receiver.valid_signatures()
    assert {r.header("x-hashwatch-event-id") for r in requests} == {event.id}
    assert {json.loads(r.body)["case_id"] for r in requests} == {reply.match_id}

    # The partner: exactly one finished report, for this URL, with the file; the one the killed
    # worker opened (if its submission got through) is an unfinished draft NCMEC discards.
    [filed] = partner.finished_reports()
    assert filed.urls == [URL]
    assert len(filed.files) == 1
    assert report.step == "finished" and report.partner_report_id == filed.report_id
    assert all(r.state != "finished" for r in partner.reports if r.report_id != filed.report_id)
