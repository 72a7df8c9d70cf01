"""The review page on a real uvicorn server, with a real match of a demo image, a real analyst
and a real webhook receiver for the customer (shared by the web tests; holds no tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reporting.access.accounts import Accounts, Enrolment
from reporting.destinations.admin import DestinationAdmin
from reporting.lists.changes import apply_changes, changes_since
from reporting.settings import ReportingSettings
from reporting.store import NewEntry, Store
from reporting.testing.webhook_receiver import WebhookReceiver
from reporting.worker import Worker
from scanner.app import build_matcher, open_store
from scanner.engine import MatcherHolder, ScanEngine
from scanner.listimport import collect
from scanner.recording import ScanContext
from scanner.settings import Settings, load_settings
from scanner.web.build import web_server
from scanner.web.server import WebServer
from tests.conftest import DEMO_LIST

ROCKET = DEMO_LIST / "skimage_rocket.jpg"
PASSWORD = "correct horse battery staple"
SECRET = "webhook-secret-1234"
CUSTOMER = "shop-1"
URL = "https://shop.example/img/rocket.jpg"


def context(request_id: str) -> ScanContext:
    return ScanContext(request_id, CUSTOMER, URL, "198.51.100.7", "image/jpeg")


@dataclass
class Reviewing:
    settings: Settings
    store: Store
    server: WebServer
    matchers: MatcherHolder
    engine: ScanEngine
    receiver: WebhookReceiver
    analyst: Enrolment
    match_id: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def drain_outbox(self) -> int:
        settings = ReportingSettings.model_validate({"http_timeout_seconds": 2.0})
        return Worker(self.store.engine, settings, self.store.actions.evidence).drain()


@pytest.fixture
def reviewing(database_url: str, tmp_path: Path) -> Iterator[Reviewing]:
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=database_url, web_port=0, review_daily_reveals=2
    )
    store = open_store(settings)
    try:
        collected = collect(DEMO_LIST, "images")
        store.import_entries("demo", [NewEntry(c.hash, c.external_id) for c in collected.candidates])
        matchers = MatcherHolder(build_matcher(store))
        engine = ScanEngine(settings.hashing, matchers, store)
        with WebhookReceiver(secret=SECRET) as receiver:
            admin = DestinationAdmin(store.engine, ReportingSettings())
            admin.add(CUSTOMER, "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
            result = engine.scan(
                ROCKET.read_bytes(), ScanContext("r1", CUSTOMER, URL, "198.51.100.7", "image/jpeg")
            )
            assert result.match_id, "the demo rocket must match the demo list"
            analyst = Accounts(store.engine).create("ann", PASSWORD, "analyst", "Ann", actor="test")

            def reload() -> None:
                apply_changes(matchers.current, changes_since(store.engine, matchers.current.configs()))

            with web_server(settings, store, on_lists_changed=reload) as server:
                yield Reviewing(settings, store, server, matchers, engine, receiver, analyst, result.match_id)
    finally:
        store.engine.dispose()
