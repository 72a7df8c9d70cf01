"""The composition root: settings → database → matcher → engine → server.

The only module of ``scanner`` that reaches the database layer, and only through ``reporting``.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType

import structlog

from index.matcher import Matcher
from reporting.db import make_engine, migrate
from reporting.store import Store
from scanner.engine import MatcherHolder, ScanEngine
from scanner.server import Server, create_server
from scanner.settings import Settings

log = structlog.get_logger(__name__)


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return Store(engine)


def build_matcher(store: Store) -> Matcher:
    return Matcher(store.matcher_inputs())


def list_sizes(matcher: Matcher) -> dict[str, dict[str, int]]:
    return {name: {str(a): n for a, n in sizes.items()} for name, sizes in matcher.sizes().items()}


@dataclass
class App:
    settings: Settings
    store: Store
    matchers: MatcherHolder
    engine: ScanEngine
    server: Server

    def reload_lists(self) -> None:
        self.matchers.swap(build_matcher(self.store))
        log.info("lists loaded", lists=list_sizes(self.matchers.current))


def build_app(settings: Settings) -> App:
    store = open_store(settings)
    matchers = MatcherHolder(build_matcher(store))
    engine = ScanEngine(settings.hashing, matchers, store)
    server = create_server(settings, engine)
    return App(settings, store, matchers, engine, server)


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then drain: health goes NOT_SERVING, in-flight RPCs finish."""
    app = build_app(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutting down", signal=signal.Signals(signum).name, grace_seconds=settings.grace_seconds)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGHUP reloads the lists from the database without a restart.
    signal.signal(signal.SIGHUP, lambda *_: app.reload_lists())
    app.server.start()
    log.info(
        "serving",
        address=f"{settings.host}:{app.server.port}",
        lists=list_sizes(app.matchers.current),
        hash_mode=str(settings.hash_mode),
    )
    # Wake up regularly: a signal delivered to one of gRPC's threads only runs its Python
    # handler once the main thread executes bytecode again.
    while not stop.wait(0.25):
        pass
    app.server.set_serving(False)
    time.sleep(settings.shutdown_delay_seconds)
    app.server.drain(settings.grace_seconds)
    log.info("stopped")
