"""The service's side of rescans: the hash log on the scan path, and retroactive matching when
a list gains entries. Wired in by ``scanner.app``."""

from __future__ import annotations

import time
from datetime import datetime

import structlog

from reporting.matches.rescans import RescanStore
from reporting.store import Store
from scanner.customer_policy import CustomerPolicies
from scanner.engine import ScanEngine
from scanner.rescan.hashlog import HashLogBuffer, HashLogFlusher, HashLoggingEngine, HashLogPolicy
from scanner.rescan.runner import run_stored
from scanner.rescan.settings import RescanSettings
from scanner.settings import load

log = structlog.get_logger(__name__)


def attach_hash_log(engine: ScanEngine, store: Store) -> tuple[ScanEngine, HashLogFlusher | None]:
    """With ``HASHWATCH_HASH_LOG_CUSTOMERS`` set, an engine that logs hashes and the flusher to
    run in a thread; otherwise the engine unchanged and None."""
    settings = load(RescanSettings)
    policy = HashLogPolicy.parse(settings.hash_log_customers, settings.hash_log_days)
    if not policy.enabled:
        return engine, None
    rescans = RescanStore(store)
    buffer = HashLogBuffer(policy)
    retro = None
    if settings.retro_match_seconds:
        retro = RetroMatcher(rescans, settings.retro_match_seconds, engine.customers)
    flusher = HashLogFlusher(buffer, rescans, on_tick=retro.tick if retro else None)
    log.info("hash log on", customers=sorted(policy.customers), days=policy.days)
    return HashLoggingEngine(engine, buffer), flusher


class RetroMatcher:
    """When list entries newer than the last check appear, matches the hash log against them."""

    def __init__(
        self, rescans: RescanStore, every_seconds: float, customers: CustomerPolicies | None = None
    ) -> None:
        self.rescans = rescans
        # The serving engine's customer settings, kept current by the server.
        self.customers = customers
        self.every = every_seconds
        self.next_check = 0.0
        # Entries present at start-up were matched at scan time or by earlier runs.
        self.watermark: datetime | None = rescans.newest_entry_added_at()

    def tick(self) -> None:
        if time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + self.every
        newest = self.rescans.newest_entry_added_at()
        if newest is None or (self.watermark is not None and newest <= self.watermark):
            return
        since = self.watermark or datetime.min.replace(tzinfo=newest.tzinfo)
        summary = run_stored(self.rescans, self.rescans, since, customers=self.customers)
        self.watermark = newest
        log.info(
            "retroactive matching",
            since=since.isoformat(),
            logged=summary.files,
            matched=summary.matched,
            recorded=summary.recorded,
        )
