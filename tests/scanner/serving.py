"""Real servers for tests: one in this process, or ``hashwatch serve`` in its own; and reading
the rich status a refusal carries."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from scanner.app import App, build_app
from scanner.settings import load_settings
from tests.scanner.conftest import import_demo_list


@contextlib.contextmanager
def started_app(data_dir: Path, **settings: object) -> Iterator[App]:
    """``build_app`` on port 0 with the demo list, started; drained afterwards."""
    app = build_app(load_settings(port=0, data_dir=data_dir, **settings))
    import_demo_list(app)
    app.server.start()
    try:
        yield app
    finally:
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


@contextlib.contextmanager
def serve_process(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``hashwatch serve --port 0 --no-worker ARGS`` on the SQLite database in ``tmp_path/var``;
    the address its ``serving`` log line names (logged once it serves)."""
    environment = {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(tmp_path / "var"),
        "HASHWATCH_METRICS_PORT": "0",
        **(env or {}),
    }
    environment.pop("HASHWATCH_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", "--port", "0", "--no-worker", *args],
            env=environment,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            for line in log_path.read_text().splitlines():
                event = json.loads(line) if line.startswith("{") else {}
                if event.get("event") == "serving":
                    yield str(event["address"])
                    return
            time.sleep(0.05)
        raise AssertionError(f"server did not start:\n{log_path.read_text()}")
    finally:
        process.terminate()
        process.wait(30)


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def retry_delay(error: grpc.RpcError) -> float:
    """The seconds of the RetryInfo a RESOURCE_EXHAUSTED carries in its trailers."""
    status = rpc_status.from_call(error)
    assert status is not None, "no rich status in the trailers"
    [detail] = status.details
    info = error_details_pb2.RetryInfo()
    assert detail.Unpack(info)
    delay: float = info.retry_delay.ToMilliseconds() / 1000
    return delay


def bad_fields(error: grpc.RpcError) -> list[str]:
    """The fields the BadRequest of an INVALID_ARGUMENT names."""
    status = rpc_status.from_call(error)
    assert status is not None, "no rich status in the trailers"
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]
