"""A refused index snapshot is served from the database and alerted: an error log line and
``hashwatch_index_snapshots_refused_total`` on /metrics."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from index.manifest import MANIFEST_NAME
from reporting.lists.snapshots import build_snapshots, index_dir
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import build_app
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

METRIC = "hashwatch_index_snapshots_refused_total"


def _refused(name: str) -> float:
    return REGISTRY.get_sample_value(METRIC, {"list": name}) or 0.0


def test_a_corrupt_snapshot_is_alerted_and_its_list_served_from_the_database(
    database_url: str, tmp_path: Path
) -> None:
    settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2)
    first = build_app(settings)
    import_demo_list(first)
    build_snapshots(first.store.engine, index_dir(settings.data_dir))
    first.store.engine.dispose()
    [data] = index_dir(settings.data_dir).glob("list-*-pdq.snapshot.*.data")
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size: only the checksum can tell
    data.write_bytes(bytes(raw))

    before = _refused("demo")
    with capture_logs() as logs:
        app = build_app(settings)
    refused = [e for e in logs if e["event"].startswith("INDEX SNAPSHOT REFUSED")]
    assert [(e["list"], e["log_level"]) for e in refused] == [("demo", "error")]
    assert _refused("demo") == before + 1

    metrics = app.metrics(0)
    app.server.start()
    try:
        scraped = httpx.get(f"http://127.0.0.1:{metrics.port}/metrics").text
        assert f'{METRIC}{{list="demo"}} {before + 1}' in scraped
        with grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
            content = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
            answer = pb_grpc.ScannerStub(channel).Scan(pb.ScanRequest(request_id="r", content=content))
        assert answer.verdict == pb.VERDICT_BLOCK  # the list, from the database
    finally:
        metrics.stop()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()

    # An unreadable manifest: every list from the database, counted once under "(manifest)".
    (index_dir(settings.data_dir) / MANIFEST_NAME).write_text("{not json")
    before_manifest, before_demo = _refused("(manifest)"), _refused("demo")
    with capture_logs() as logs:
        again = build_app(settings)
    assert [e["log_level"] for e in logs if e["event"].startswith("INDEX MANIFEST REFUSED")] == ["error"]
    assert (_refused("(manifest)"), _refused("demo")) == (before_manifest + 1, before_demo)
    assert again.matchers.current.sizes() == app.matchers.current.sizes()
    again.store.engine.dispose()
