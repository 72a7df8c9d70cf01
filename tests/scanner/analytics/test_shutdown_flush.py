"""SIGTERM on a real ``hashwatch serve``: the scans counted since the last flush are written
before the process exits (the flush interval is an hour, so only the shutdown flush can)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc

from reporting.analytics import DailyCountStore
from reporting.db import make_engine
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from tests.conftest import DEMO_UNLISTED


def test_sigterm_writes_the_scan_counts_not_yet_flushed(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(tmp_path / "var"),
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
        "HASHWATCH_ANALYTICS_FLUSH_SECONDS": "3600",
    }
    env.pop("HASHWATCH_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", "--no-worker"], env=env, stderr=log
        )
    try:
        address = ""
        deadline = time.monotonic() + 60
        while not address and time.monotonic() < deadline and process.poll() is None:
            for line in log_path.read_text().splitlines():
                if json.loads(line)["event"] == "serving":
                    address = json.loads(line)["address"]
            time.sleep(0.1)
        assert address, log_path.read_text()
        content = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.ScannerStub(channel)
            for customer, content_ in [("shop", content), ("shop", b""), ("blog", content)]:
                stub.Scan(pb.ScanRequest(customer_id=customer, content=content_), timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'hashwatch.db'}")
    today = datetime.now(UTC).date()
    rows = list(DailyCountStore(engine).export(today, today, None, None, 100))
    engine.dispose()
    assert [(r.customer_id, r.scans, dict(r.scans_by_outcome)) for r in rows] == [
        ("blog", 1, {"scanned": 1}),
        ("shop", 2, {"empty": 1, "scanned": 1}),
    ]
