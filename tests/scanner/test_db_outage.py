"""The database goes away for real (a private PostgreSQL, stopped mid-test) and comes back.

The shared PostgreSQL other tests use is never touched: ``tests.pgserver`` starts one of our
own from ``HASHWATCH_TEST_PG_BINDIR``.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from reporting import models
from reporting.destination_admin import DestinationAdmin
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app, journal_sink
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST, DEMO_UNLISTED, _skip_or_fail
from tests.pgserver import BINDIR_ENV, PrivatePostgres
from tests.scanner.conftest import import_demo_list

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    bindir = os.environ.get(BINDIR_ENV)
    if not bindir:
        _skip_or_fail(f"the database outage test needs {BINDIR_ENV} (e.g. /usr/lib/postgresql/15/bin)")
    assert bindir is not None
    server = PrivatePostgres(Path(bindir))
    try:
        server.start()
        yield server
    finally:
        server.close()


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_database_outage_keeps_answering_spools_the_match_and_replays_it_once(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=postgres.url, threads=2)
    app: App = build_app(settings)
    import_demo_list(app)
    DestinationAdmin(app.store.engine, app.reporting).add("shop", "email", {"to": "abuse@shop.example"})
    app.server.start()
    journal = app.journal
    assert journal is not None
    stop = threading.Event()
    replayer = threading.Thread(
        target=journal.run_replay,
        args=(journal_sink(app.store), stop),
        kwargs={"poll_seconds": 0.2, "backoff_max": 1.0},
    )
    metrics = app.metrics(0)
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    stub = pb_grpc.ScannerStub(channel)

    def scan(content: bytes, request_id: str, url: str = "") -> pb.ScanResponse:
        request = pb.ScanRequest(request_id=request_id, content=content, customer_id="shop", url=url)
        response: pb.ScanResponse = stub.Scan(request, timeout=30)
        return response

    try:
        replayer.start()
        before = scan(LISTED, "up", "https://shop.example/1.jpg")
        assert before.verdict == pb.VERDICT_BLOCK and before.match_id > 0

        postgres.stop()
        clean = scan(UNLISTED, "down-clean")
        assert (clean.verdict, clean.outcome) == (pb.VERDICT_ALLOW, pb.OUTCOME_SCANNED)
        started = time.monotonic()
        spooled = scan(LISTED, "down-match", "https://shop.example/2.jpg")
        assert time.monotonic() - started < 10
        assert spooled.verdict == pb.VERDICT_BLOCK
        assert spooled.match_id == 0 and spooled.matches
        assert "spooled to the local journal" in spooled.reason
        assert journal.depth() == 1
        # /metrics keeps answering in the outage, and says what it cannot see.
        during = _metrics(metrics.port)
        assert during["hashwatch_outbox_up[]"] == 0
        assert during["hashwatch_journal_pending[]"] == 1

        postgres.start()
        assert _wait(lambda: journal.depth() == 0, 30), "the spooled match was not replayed"
        time.sleep(0.5)  # a second replay round, had the first one left anything behind
    finally:
        stop.set()
        replayer.join(timeout=10)
        metrics.stop()
        channel.close()
        app.server.drain(grace_seconds=2)

    with app.store.engine.connect() as conn:
        rows = conn.execute(
            select(models.Match.id, models.Match.request_id, models.Match.journal_id).order_by(
                models.Match.id
            )
        ).all()
        replayed_id = rows[-1].id
        blocks = conn.execute(select(models.Block.url, models.Block.match_id).order_by(models.Block.id)).all()
        deliveries = conn.scalar(
            select(func.count())
            .select_from(models.Delivery)
            .join(models.Event, models.Event.id == models.Delivery.event_id)
            .where(models.Event.case_id == replayed_id)
        )
        evidence = conn.scalar(
            select(func.count()).select_from(models.Evidence).where(models.Evidence.match_id == replayed_id)
        )
    app.store.engine.dispose()
    assert [(r.request_id, bool(r.journal_id)) for r in rows] == [("up", False), ("down-match", True)]
    assert blocks == [("https://shop.example/1.jpg", rows[0].id), ("https://shop.example/2.jpg", replayed_id)]
    assert (deliveries, evidence) == (1, 1)
