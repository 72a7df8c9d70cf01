"""The service's hash log: opted-in customers' scans reach the log through a real gRPC server."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from reporting.matches.rescans import RescanStore
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import build_app
from scanner.rescan.hashlog import HashLoggingEngine
from scanner.settings import load_settings
from tests.conftest import DEMO_UNLISTED


def test_a_served_scan_of_an_opted_in_customer_is_logged_without_its_content(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASHWATCH_HASH_LOG_CUSTOMERS", "shop-9")
    monkeypatch.setenv("HASHWATCH_RETRO_MATCH_SECONDS", "0")
    settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2)
    app = build_app(settings)
    assert isinstance(app.engine, HashLoggingEngine) and app.hash_log is not None
    app.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        stub = pb_grpc.ScannerStub(channel)
        content = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
        for customer in ("shop-9", "shop-10"):
            reply = stub.Scan(
                pb.ScanRequest(customer_id=customer, url=f"https://{customer}/a.png", content=content)
            )
            assert reply.verdict == pb.VERDICT_ALLOW
        stub.Scan(pb.ScanRequest(customer_id="shop-9", url="https://shop-9/b.jpg", content=b"not an image"))
        assert app.hash_log.flush() == 2
        rescans = RescanStore(app.store)
        logged = {row.url: row for row in rescans.logged_scans()}
        assert {row.customer_id for row in logged.values()} == {"shop-9"}
        image = logged["https://shop-9/a.png"]
        assert {str(h.algorithm) for h in image.hashes} == {"pdq", "phash", "md5", "sha1"}
        assert content not in repr(image).encode()
        # Bytes that did not decode are logged by their exact hashes, which a later list may hold.
        assert {str(h.algorithm) for h in logged["https://shop-9/b.jpg"].hashes} == {"md5", "sha1"}
    finally:
        channel.close()
        app.server.drain(grace_seconds=2)
        app.store.engine.dispose()
