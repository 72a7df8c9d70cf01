"""Matches, blocks, filed reports and notifications are counted in the transactions that record
them: real scans through the server, the real outbox worker, a real SMTP server, a real webhook
receiver and the fake CyberTipline. The counters are checked against the tables themselves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from reporting import models
from reporting.destinations.admin import DestinationAdmin
from reporting.settings import ReportingSettings
from reporting.testing.fake_cybertipline import FakeCyberTipline
from reporting.testing.smtp_sink import SmtpSink
from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.api.hashwatch.v1 import analytics_pb2 as apb
from scanner.api.hashwatch.v1 import analytics_pb2_grpc as apb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app, make_worker
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

SECRET = "analytics-webhook-secret"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[App, ReportingSettings, WebhookReceiver]]:
    with SmtpSink() as sink, WebhookReceiver(secret=SECRET) as receiver, FakeCyberTipline() as partner:
        reporting = ReportingSettings.model_validate(
            {
                "smtp_host": sink.host,
                "smtp_port": sink.port,
                "smtp_from": "hashwatch@test.example",
                "cybertipline_url": partner.url,
                "cybertipline_username": partner.username,
                "cybertipline_password": "test-password",
                "reporter_first_name": "Trust",
                "reporter_last_name": "Safety",
                "reporter_email": "ts@hashwatch.example",
                "http_timeout_seconds": 10,
            }
        )
        settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2)
        app = build_app(settings, reporting)
        import_demo_list(app)
        app.store.set_policy("demo", {"report": "immediately"})
        app.sync_lists()  # the server follows the policy, as its list poll does
        admin = DestinationAdmin(app.store.engine, reporting)
        admin.add("shop", "email", {"to": "abuse@shop.example"})
        admin.add("shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
        admin.add("blog", "email", {"to": "owner@blog.example"}, mode="digest")
        app.server.start()
        try:
            yield app, reporting, receiver
        finally:
            app.server.drain(grace_seconds=2)
            app.store.engine.dispose()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _from_the_tables(app: App, customer: str) -> dict[str, int]:
    """The slow way: what the tables say happened to the customer (nothing was purged here)."""
    m = models
    with app.store._sessions() as session:

        def count(query: object) -> int:
            return int(session.scalar(query) or 0)  # type: ignore[call-overload]

        destination = m.Delivery.target.like("destination:%")
        for_customer = m.Delivery.event_id.in_(select(m.Event.id).where(m.Event.customer_id == customer))
        deliveries = select(func.count()).select_from(m.Delivery).where(destination, for_customer)
        return {
            "matches": count(
                select(func.count()).select_from(m.Match).where(m.Match.customer_id == customer)
            ),
            "blocks": count(select(func.count()).select_from(m.Block).where(m.Block.customer_id == customer)),
            "reports_filed": count(
                select(func.count())
                .select_from(m.Report)
                .join(m.Match, m.Match.id == m.Report.match_id)
                .where(m.Match.customer_id == customer, m.Report.step == "finished")
            ),
            "notifications_sent": count(deliveries.where(m.Delivery.state == "delivered")),
            "notifications_failed": count(deliveries.where(m.Delivery.state == "dead")),
        }


def test_matches_blocks_reports_and_notifications_are_counted_with_what_records_them(
    world: tuple[App, ReportingSettings, WebhookReceiver],
) -> None:
    app, reporting, receiver = world
    scans = [
        ("skimage_rocket.jpg", "https://shop.example/a.jpg"),
        ("skimage_rocket.jpg", "https://shop.example/a.jpg"),  # the same URL: no second block
        ("skimage_coins.png", "https://shop.example/b.png"),
    ]
    digested = [
        ("skimage_chelsea.png", "https://blog.example/c.png"),
        ("skimage_coins.png", "https://blog.example/d.png"),
    ]
    receiver.fail_next(1, 400)  # one webhook refused for good: a failed notification
    with grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
        scanner = pb_grpc.ScannerStub(channel)
        for name, url in scans:
            content = (DEMO_LIST / name).read_bytes()
            reply = scanner.Scan(pb.ScanRequest(customer_id="shop", url=url, content=content), timeout=30)
            assert reply.verdict == pb.VERDICT_BLOCK
        for name, url in digested:
            content = (DEMO_LIST / name).read_bytes()
            scanner.Scan(pb.ScanRequest(customer_id="blog", url=url, content=content), timeout=30)
        worker = make_worker(app.store, reporting)
        worker.drain()
        # The digest period ends: one message with both of blog's matches.
        later = models.utcnow() + timedelta(seconds=reporting.digest_period_seconds + 1)
        worker.clock = lambda: later
        worker.drain()
        analytics = apb_grpc.AnalyticsStub(channel)
        response = analytics.GetDailyCounts(apb.GetDailyCountsRequest(customer_id="shop"), timeout=10)
        # The digest is counted on the day it went out, by the worker's clock.
        blog = analytics.GetDailyCounts(
            apb.GetDailyCountsRequest(customer_id="blog", from_day=_today(), to_day=later.date().isoformat()),
            timeout=10,
        ).days
    [day] = response.days
    assert day.day == _today()
    counted = {
        "matches": day.matches,
        "blocks": day.blocks,
        "reports_filed": day.reports_filed,
        "notifications_sent": day.notifications_sent,
        "notifications_failed": day.notifications_failed,
    }
    assert counted == _from_the_tables(app, "shop")
    assert counted == {
        "matches": 3,
        "blocks": 2,
        "reports_filed": 3,
        "notifications_sent": 5,
        "notifications_failed": 1,
    }
    # Scans wait for the flush; the counts above did not.
    assert day.scans == 0
    # A digest sends both matches in one message: two notifications sent.
    assert [(d.day, d.matches, d.notifications_sent) for d in blog] == (
        [(_today(), 2, 2)]
        if later.date().isoformat() == _today()
        else [(_today(), 2, 0), (later.date().isoformat(), 0, 2)]
    )
    assert _from_the_tables(app, "blog")["notifications_sent"] == 2
