"""OpenTelemetry tracing against a real OTLP/HTTP receiver and a real gRPC server on port 0."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import build_app
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST, ROOT
from tests.scanner.conftest import import_demo_list

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TOKEN = "sekrit-token-7f3a"
URL = "https://shop.example/private/photo.jpg?sig=abc123"


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint: keeps every request body and the spans decoded from it."""

    bodies: list[bytes] = field(default_factory=list)
    spans: list[tuple[dict[str, Any], Span]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                receiver.bodies.append(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        receiver.spans.extend((resource, span) for span in scope_spans.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), found.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found, f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _attributes(span: Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for attribute in span.attributes:
        value = attribute.value
        out[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return out


def test_a_scan_is_one_server_span_with_stage_children_and_no_content(
    receiver: tuple[Receiver, str], database_url: str, tmp_path: Path
) -> None:
    found, endpoint = receiver
    settings = load_settings(
        port=0,
        data_dir=tmp_path / "var",
        database_url=database_url,
        threads=2,
        otel_endpoint=endpoint,
        otel_service_name="hashwatch-test",
    )
    app = build_app(settings)
    import_demo_list(app)
    app.server.start()
    content = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
    with grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
        stub = pb_grpc.ScannerStub(channel)
        request = pb.ScanRequest(request_id="req-1", customer_id="cust-9", url=URL, content=content)
        metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"), ("authorization", f"Bearer {TOKEN}"))
        answer = stub.Scan(request, metadata=metadata)
        assert answer.verdict == pb.VERDICT_BLOCK
        items = [pb.ScanRequest(request_id=f"s{i}", customer_id="cust-9", content=content) for i in range(3)]
        assert len(list(stub.ScanStream(iter(items)))) == 3
    app.server.drain(grace_seconds=5)  # flushes the spans
    app.store.engine.dispose()

    by_name: dict[str, list[Span]] = {}
    for resource, span in found.spans:
        assert resource["service.name"] == "hashwatch-test"
        by_name.setdefault(span.name, []).append(span)
    [scan] = by_name["hashwatch.v1.Scanner/Scan"]
    assert scan.kind == Span.SPAN_KIND_SERVER
    assert scan.trace_id.hex() == TRACE_ID and scan.parent_span_id.hex() == PARENT_ID
    attributes = _attributes(scan)
    assert attributes["hashwatch.request_id"] == "req-1"
    assert attributes["hashwatch.customer_id"] == "cust-9"
    assert attributes["hashwatch.verdict"] == "BLOCK"
    assert attributes["hashwatch.matches"] == len(answer.matches) > 0
    assert attributes["rpc.method"] == "Scan" and attributes["rpc.grpc.status_code"] == 0
    stages = {name: by_name[name] for name in ("scan.hash", "scan.match", "scan.record")}
    for name, [child] in stages.items():
        assert child.parent_span_id == scan.span_id, name
        assert scan.start_time_unix_nano <= child.start_time_unix_nano <= child.end_time_unix_nano
        assert child.end_time_unix_nano <= scan.end_time_unix_nano

    # A stream is one span with its count; its items (on worker threads) make no orphan spans.
    [stream] = by_name["hashwatch.v1.Scanner/ScanStream"]
    assert _attributes(stream)["hashwatch.answers"] == 3
    assert _attributes(stream)["hashwatch.blocked"] == 3
    assert sum(len(spans) for spans in stages.values()) == 3

    everything = b"".join(found.bodies)
    for secret in (content[2000:2032], content[-32:], TOKEN.encode(), URL.encode(), b"/private/photo"):
        assert secret not in everything


def test_without_the_setting_opentelemetry_is_not_imported() -> None:
    code = (
        "import sys, scanner.rpc.server, scanner.app;"
        "from scanner.rpc.interceptors.tracing import Tracing;"
        "from scanner.settings import load_settings;"
        "assert Tracing.from_settings(load_settings()) is None;"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    # Without the settings that would turn it on, and without the SDK's own variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HASHWATCH_", "OTEL_"))}
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert output.stdout.strip() == "[]"
