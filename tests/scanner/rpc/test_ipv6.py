"""IPv6 on ::1: ``hashwatch serve --host ::1`` and ``--host ::`` bind and serve (the gRPC port,
/metrics and the review page), and a token limited with ``--ip ::1/128`` is accepted from ::1 and
refused from 127.0.0.1. Real servers on port 0, a real database, the real CLI."""

from __future__ import annotations

import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from scanner.addresses import host_port, peer_address
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import build_app
from scanner.cli.main import app as cli
from scanner.settings import load_settings
from scanner.web.server import WebServer
from tests.conftest import DEMO_UNLISTED
from tests.scanner.serving import has_ipv6_loopback, serve_process

UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


pytestmark = pytest.mark.skipif(not has_ipv6_loopback(), reason="SKIPPED LOUDLY: this machine has no ::1")


def scan(target: str, metadata: tuple[tuple[str, str], ...] = ()) -> pb.ScanResponse:
    with grpc.insecure_channel(target) as channel:
        request = pb.ScanRequest(request_id="v6", content=UNLISTED)
        reply: pb.ScanResponse = pb_grpc.ScannerStub(channel).Scan(request, metadata=metadata, timeout=30)
        return reply


@pytest.mark.parametrize("host", ["::1", "::"])
def test_serve_binds_ipv6_and_answers(tmp_path: Path, host: str) -> None:
    with serve_process(tmp_path, "--host", host) as address:
        port = address.rsplit(":", 1)[1]
        assert scan(f"[::1]:{port}").outcome == pb.OUTCOME_SCANNED
        if host == "::":
            # Every address: IPv4 clients too, on the same socket.
            assert scan(f"127.0.0.1:{port}").outcome == pb.OUTCOME_SCANNED


def test_a_token_limited_to_ipv6_loopback_is_accepted_there_and_refused_from_ipv4(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "var")]
    created = CliRunner().invoke(
        cli,
        ["tokens", "create", "--scope", "scan", "--ip", "::1/128", *data],
        env={"HASHWATCH_DATABASE_URL": None},
    )
    assert created.exit_code == 0, created.stderr
    bearer = (("authorization", f"Bearer {created.stdout.splitlines()[-1]}"),)
    with serve_process(tmp_path, "--host", "::", "--require-auth") as address:
        port = address.rsplit(":", 1)[1]
        assert scan(f"[::1]:{port}", bearer).verdict == pb.VERDICT_ALLOW
        with pytest.raises(grpc.RpcError) as raised:
            scan(f"127.0.0.1:{port}", bearer)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "127.0.0.1" in (raised.value.details() or "")


def test_metrics_and_the_review_page_bind_ipv6(tmp_path: Path) -> None:
    settings = load_settings(port=0, host="::1", data_dir=tmp_path / "var")
    app = build_app(settings)
    try:
        metrics = app.metrics(0)
        try:
            with urllib.request.urlopen(f"http://[::1]:{metrics.port}/metrics", timeout=10) as reply:
                assert b"hashwatch_rpcs_total" in reply.read()
        finally:
            metrics.stop()
    finally:
        app.server.drain(0)
        app.store.engine.dispose()

    async def hello(
        scope: object, receive: object, send: Callable[[dict[str, object]], Awaitable[None]]
    ) -> None:
        # An ASGI app answering 204 to anything.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with (
        WebServer(hello, host="::1") as web,
        urllib.request.urlopen(f"http://[::1]:{web.port}/", timeout=10) as reply,
    ):
        assert reply.status == 204


def test_peer_strings_as_grpc_writes_them() -> None:
    assert peer_address("ipv6:%5B::1%5D:50123") == "::1"
    assert peer_address("ipv6:%5B2001:db8::7%5D:1") == "2001:db8::7"
    assert peer_address("ipv6:%5Bfe80::1%25eth0%5D:1") == "fe80::1"
    assert peer_address("ipv6:%5B::ffff:127.0.0.1%5D:9") == "127.0.0.1"
    assert peer_address("ipv4:127.0.0.1:50123") == "127.0.0.1"
    assert peer_address("ipv6:%5Bnot-an-address%5D:1") == ""
    assert host_port("::", 50051) == "[::]:50051"
    assert host_port("[::1]", 1) == "[::1]:1"
    assert host_port("127.0.0.1", 1) == "127.0.0.1:1"
