"""SIGTERM on a real ``hashwatch serve`` process: health goes NOT_SERVING, in-flight work drains."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from tests.conftest import DEMO_LIST


def _start_server(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(tmp_path / "var"),
        "HASHWATCH_PORT": "0",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "1.5",
        "HASHWATCH_GRACE_SECONDS": "30",
    }
    env.pop("HASHWATCH_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "scanner", "serve"], env=env, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "serving":
                return process, event["address"]
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"server did not start:\n{log_path.read_text()}")


def _big_png() -> bytes:
    image = Image.open(DEMO_LIST / "skimage_rocket.jpg").resize((3000, 2000))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_sigterm_turns_health_off_and_drains_in_flight_scans(tmp_path: Path) -> None:
    process, address = _start_server(tmp_path)
    content = _big_png()
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20)])
    stub = pb_grpc.ScannerStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    first_answer = threading.Event()
    replies: list[pb.ScanResponse] = []

    def requests() -> Iterator[pb.ScanRequest]:
        for i in range(12):
            yield pb.ScanRequest(request_id=str(i), content=content)

    def consume() -> None:
        for reply in stub.ScanStream(requests(), timeout=120):
            replies.append(reply)
            first_answer.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        assert first_answer.wait(60)
        process.send_signal(signal.SIGTERM)
        status = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
            if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
            time.sleep(0.02)
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        consumer.join(120)
        assert sorted(int(r.request_id) for r in replies) == list(range(12))
        assert all(r.outcome == pb.OUTCOME_SCANNED for r in replies)
        assert process.wait(60) == 0
    finally:
        channel.close()
        if process.poll() is None:
            process.kill()
