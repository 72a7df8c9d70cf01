"""The database goes away for real under a running ``hashwatch serve`` and comes back.

A private PostgreSQL (``tests.pgserver``, from ``HASHWATCH_TEST_PG_BINDIR``) is stopped
mid-test; the machine's shared one, which other tests use, is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from typer.testing import CliRunner

from reporting import models
from reporting.db import make_engine
from reporting.destinations.admin import DestinationAdmin
from reporting.settings import ReportingSettings
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.cli.main import app as cli
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.pgserver import PrivatePostgres

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_database_outage_keeps_serving_spools_the_match_and_replays_it_once(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    where = ["--data-dir", str(data), "--database-url", postgres.url]
    imported = CliRunner().invoke(
        cli, ["lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images", *where]
    )
    assert imported.exit_code == 0, imported.stderr
    engine = make_engine(postgres.url)
    DestinationAdmin(engine, ReportingSettings()).add("shop", "email", {"to": "abuse@shop.example"})
    metrics_port = _free_port()
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_DATABASE_URL": postgres.url,
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": str(metrics_port),
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", "--no-worker"], env=env, stderr=log
        )
    channel: grpc.Channel | None = None
    try:
        address = ""
        deadline = time.monotonic() + 60
        while not address and time.monotonic() < deadline and process.poll() is None:
            address = next((e["address"] for e in _events(log_path) if e["event"] == "serving"), "")
            time.sleep(0.1)
        assert address, log_path.read_text()
        channel = grpc.insecure_channel(address)
        stub = pb_grpc.ScannerStub(channel)

        def scan(content: bytes, request_id: str, url: str = "") -> pb.ScanResponse:
            request = pb.ScanRequest(request_id=request_id, content=content, customer_id="shop", url=url)
            response: pb.ScanResponse = stub.Scan(request, timeout=30)
            return response

        before = scan(LISTED, "up", "https://shop.example/1.jpg")
        assert before.verdict == pb.VERDICT_BLOCK and before.match_id > 0

        postgres.stop()
        clean = scan(UNLISTED, "down-clean")
        assert (clean.verdict, clean.outcome) == (pb.VERDICT_ALLOW, pb.OUTCOME_SCANNED)
        spooled = scan(LISTED, "down-match", "https://shop.example/2.jpg")
        assert spooled.verdict == pb.VERDICT_BLOCK
        assert spooled.match_id == 0 and spooled.matches
        assert "spooled to the local journal" in spooled.reason
        [journal_file] = (data / "journal").glob("*.json")
        assert LISTED[:64] not in journal_file.read_bytes()
        # /metrics keeps answering in the outage, and says what it cannot see.
        during = _metrics(metrics_port)
        assert during["hashwatch_outbox_up"] == 0
        assert during["hashwatch_journal_pending"] == 1

        postgres.start()
        assert _wait(lambda: not journal_file.exists(), 45), log_path.read_text()
        assert _wait(lambda: _metrics(metrics_port)["hashwatch_journal_pending"] == 0, 10)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if channel is not None:
            channel.close()
        if process.poll() is None:
            process.kill()
            process.wait()

    with engine.connect() as conn:
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
    engine.dispose()
    assert [(r.request_id, bool(r.journal_id)) for r in rows] == [("up", False), ("down-match", True)]
    assert blocks == [("https://shop.example/1.jpg", rows[0].id), ("https://shop.example/2.jpg", replayed_id)]
    assert (deliveries, evidence) == (1, 1)
    assert any(e["event"] == "spooled match recorded" for e in _events(log_path))
