from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.listimport import collect
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST, _skip_or_fail
from tests.pgserver import BINDIR_ENV, PrivatePostgres


@dataclass
class Running:
    app: App
    channel: grpc.Channel
    stub: pb_grpc.ScannerStub
    address: str


def import_demo_list(app: App, name: str = "demo") -> None:
    collected = collect(DEMO_LIST, "images")
    app.store.import_entries(name, [NewEntry(c.hash, c.external_id) for c in collected.candidates])
    app.reload_lists()


@pytest.fixture
def running(database_url: str, tmp_path: Path) -> Iterator[Running]:
    """A real server on port 0 with the demo list loaded, and a real client channel."""
    settings = load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=4)
    app = build_app(settings)
    import_demo_list(app)
    app.server.start()
    address = f"127.0.0.1:{app.server.port}"
    limit = 64 * 1024 * 1024
    channel = grpc.insecure_channel(
        address, options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    )
    try:
        yield Running(app, channel, pb_grpc.ScannerStub(channel), address)
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL, started, that a test may stop and start (``tests.pgserver``)."""
    bindir = os.environ.get(BINDIR_ENV)
    if not bindir:
        _skip_or_fail(f"stopping a database needs {BINDIR_ENV} (e.g. /usr/lib/postgresql/15/bin)")
    assert bindir is not None
    server = PrivatePostgres(Path(bindir))
    try:
        server.start()
        yield server
    finally:
        server.close()
