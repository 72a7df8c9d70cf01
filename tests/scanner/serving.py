"""Real servers for tests: one in this process, or ``hashwatch serve`` in its own (to read its
log or its files); and reading the rich status a refusal carries."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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
    environment = {"HASHWATCH_DATA_DIR": str(tmp_path / "var"), "HASHWATCH_DATABASE_URL": "", **(env or {})}
    with hashwatch_serve(environment, tmp_path / "serve.log", "--port", "0", "--no-worker", *args) as served:
        yield served.addresses["serving"]


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


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    log: Path
    # The ``address`` each awaited event logged ("serving": gRPC, "review page": the web page).
    addresses: dict[str, str]


def logged_address(text: str, event: str) -> str:
    """The ``address`` of the first ``event`` line of a log, JSON or console."""
    for line in text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                return str(record["address"])
        elif re.search(rf"\] {event}\s", line) and (found := re.search(r"\baddress=(\S+)", line)):
            return found.group(1)
    return ""


@contextlib.contextmanager
def hashwatch_serve(
    env: Mapping[str, str],
    log: Path,
    *args: str,
    wait_for: Sequence[str] = ("serving",),
    umask: int | None = None,
    timeout: float = 120,
) -> Iterator[Served]:
    """``hashwatch serve ARGS`` with ``env`` over this process's environment (ports 0 unless
    given), its stderr in ``log``; yields once every event in ``wait_for`` is logged, and stops
    it with SIGTERM afterwards (``process.returncode`` is then its exit code)."""
    environment = {
        **os.environ,
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
        **env,
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", *args],
            env=environment,
            stderr=stderr,
            # Popen's umask (-1: inherited), never a preexec_fn (tests/scanner/test_secrets_at_rest.py).
            umask=-1 if umask is None else umask,
        )
    try:
        deadline = time.monotonic() + timeout
        addresses: dict[str, str] = {}
        while len(addresses) < len(wait_for) and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            text = log.read_text()
            addresses = {e: a for e in wait_for if (a := logged_address(text, e))}
            time.sleep(0.1)
        assert len(addresses) == len(wait_for), log.read_text()
        yield Served(process, log, addresses)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
