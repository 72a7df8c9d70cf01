"""The composition root: settings → database → matcher → engine → server.

The only module of ``scanner`` that reaches the database layer, and only through ``reporting``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from index.matcher import Matcher
from reporting.analytics import DailyCountStore
from reporting.audit import seal_engine
from reporting.audit_seal import ANCHOR_FILE, PURPOSE, AuditSeal
from reporting.db import make_engine, migrate, private_dir
from reporting.keys import LocalKey, LocalKeyError
from reporting.lists.changes import apply_changes, changes_since
from reporting.lists.snapshots import index_dir, matcher_from_database, start_matcher
from reporting.matches.evidence import EvidenceBox
from reporting.sealed import unlock
from reporting.settings import ReportingSettings
from reporting.store import ActionConfig, Store
from reporting.worker import Worker
from scanner.addresses import host_port
from scanner.analytics.counter import CountFlusher, ScanCounter
from scanner.auditlog import AuditReader
from scanner.auth import Principal, TokenVerifier
from scanner.customer_policy import CustomerPolicies
from scanner.engine import MatcherHolder, ScanEngine, Verdict
from scanner.flood import FloodGuard
from scanner.hashpool.pool import HashPool
from scanner.journal import AlreadyRecorded, Journal, JournalRecord, JournalSink
from scanner.metrics import (
    INDEX_SNAPSHOTS_REFUSED,
    IndexCollector,
    JournalCollector,
    MetricsEndpoint,
    OutboxCollector,
    OutboxStats,
)
from scanner.rescan.hashlog import HashLogFlusher
from scanner.rescan.service import attach_hash_log
from scanner.rpc.analytics_service import AnalyticsService, VisibleCustomers, operators_only
from scanner.rpc.customers_service import CustomersService
from scanner.rpc.review_service import ReviewService
from scanner.rpc.server import Server, create_server
from scanner.settings import Settings, load

log = structlog.get_logger(__name__)


def evidence_box(settings: Settings, reporting: ReportingSettings) -> EvidenceBox:
    return EvidenceBox.from_setting(reporting.evidence_key.get_secret_value(), settings.data_dir)


def open_store(settings: Settings, reporting: ReportingSettings | None = None) -> Store:
    """The database, migrated and unlocked with the local key (``reporting.sealed``); a wrong
    key raises ``LocalKeyError`` naming ``HASHWATCH_SECRETS_KEY``."""
    reporting = reporting or load(ReportingSettings)
    private_dir(settings.data_dir)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    try:
        key = LocalKey.from_setting(reporting.secrets_key.get_secret_value(), settings.data_dir)
        unlock(engine, key)
    except LocalKeyError:
        engine.dispose()
        raise
    # Audit records appended through this engine carry the audit key's MAC and advance the
    # anchor file in the data directory (reporting/audit_seal.py).
    seal_engine(engine, AuditSeal(key.derive(PURPOSE), settings.data_dir / ANCHOR_FILE))
    actions = ActionConfig(
        evidence_box(settings, reporting), reporting.evidence_days, bool(reporting.block_hook_url)
    )
    return Store(engine, actions)


def make_worker(store: Store, reporting: ReportingSettings) -> Worker:
    return Worker(store.engine, reporting, store.actions.evidence)


def build_matcher(store: Store, snapshots: Path | None = None) -> Matcher:
    """Every enabled list from the database, or, given a snapshot directory, from the snapshots
    there (``hashwatch index build``) caught up from the database."""
    if snapshots is None:
        return matcher_from_database(store.engine)
    return start_matcher(store.engine, snapshots, lambda name: INDEX_SNAPSHOTS_REFUSED.labels(name).inc())


def list_sizes(matcher: Matcher) -> dict[str, dict[str, int]]:
    return {name: {str(a): n for a, n in sizes.items()} for name, sizes in matcher.sizes().items()}


def access(settings: Settings, store: Store) -> tuple[TokenVerifier | None, AuditReader | None]:
    """Token checks and the audit log service, when the server requires authentication."""
    if not settings.require_auth:
        log.warning("authentication is off: any client may call every RPC (serve --require-auth)")
        return None, None
    from reporting.access.tokens import TokenStore
    from reporting.audit import AuditLog

    return TokenStore(store.engine), AuditLog(store.engine)


def review_service(store: Store, matchers: MatcherHolder) -> ReviewService:
    """The Review service. A false positive flags list entries as a new list version; this
    server applies the change in place right after the decision commits (others within their
    ``list_poll_seconds``)."""
    from reporting.review.cases import Review, Reviewer

    def follow() -> None:
        added, removed = apply_changes(
            matchers.current, changes_since(store.engine, matchers.current.configs())
        )
        log.info("lists updated after a review decision", added=added, removed=removed)

    return ReviewService(Review(store.engine, on_lists_changed=follow), Reviewer)


def customers_service(
    store: Store, reporting: ReportingSettings, journal: Journal | None = None
) -> CustomersService:
    """The Customers service; verification codes go out through the notices' SMTP server,
    within the sending limits. Ids in ``journal`` count as known (reporting/customers/ids.py)."""
    from reporting.customers.email import SmtpVerificationMailer
    from reporting.customers.mail_limits import MailLimits
    from reporting.customers.store import CustomerSettings, CustomerStore
    from reporting.destinations.email import SmtpSettings

    mailer = SmtpVerificationMailer(SmtpSettings.from_settings(reporting))
    customers = CustomerStore(
        store.engine,
        mailer,
        known_elsewhere=journal.holds_customer if journal is not None else None,
        mail_limits=MailLimits.from_settings(reporting),
    )
    return CustomersService(customers, CustomerSettings)


def customer_policies(settings: Settings, store: Store) -> CustomerPolicies:
    """The enabled customers' scan settings, loaded now; ``App.watch_customers`` keeps them current."""
    from reporting.customers.store import CustomerStore

    policies = CustomerPolicies(settings.unknown_customer)
    policies.refresh(CustomerStore(store.engine))
    return policies


@dataclass
class App:
    settings: Settings
    reporting: ReportingSettings
    store: Store
    matchers: MatcherHolder
    engine: ScanEngine
    server: Server
    # Writes the scan hash log (HASHWATCH_HASH_LOG_CUSTOMERS); None when it is off.
    hash_log: HashLogFlusher | None = None
    # Where matches wait while the database is away (scanner/journal.py).
    journal: Journal | None = None
    customers: CustomerPolicies | None = None
    # Writes the per-customer scan counts every ``analytics_flush_seconds``.
    counts: CountFlusher | None = None

    def watch_customers(self, stop: threading.Event) -> None:
        """Follow customer changes every ``customer_poll_seconds`` until ``stop``."""
        from reporting.customers.store import CustomerStore

        if self.customers is not None:
            self.customers.watch(CustomerStore(self.store.engine), self.settings.customer_poll_seconds, stop)

    def replay_journal(self, stop: threading.Event) -> None:
        """Record spooled matches as the database comes back, until ``stop``."""
        if self.journal is not None:
            self.journal.run_replay(journal_sink(self.store), stop)

    def metrics(self, port: int) -> MetricsEndpoint:
        """Serve /metrics on ``port`` (0: any free port) of the metrics host."""
        collectors = [
            IndexCollector(lambda: self.matchers.current),
            OutboxCollector(lambda: outbox_stats(self.store)),
        ]
        if self.journal is not None:
            collectors.append(JournalCollector(self.journal.depth))
        return MetricsEndpoint(self.settings.metrics_host or self.settings.host, port, collectors)

    def reload_lists(self) -> None:
        self.matchers.swap(build_matcher(self.store))
        log.info("lists loaded", lists=list_sizes(self.matchers.current))

    def sync_lists(self) -> tuple[int, int]:
        """Apply what changed in the lists since the matcher last looked, in place."""
        added, removed = apply_changes(
            self.matchers.current, changes_since(self.store.engine, self.matchers.current.configs())
        )
        if added or removed:
            log.info("lists updated", added=added, removed=removed, lists=list_sizes(self.matchers.current))
        return added, removed

    def watch_lists(self, stop: threading.Event) -> None:
        """Follow list changes every ``list_poll_seconds`` until ``stop``, and compact the
        indexes whose updates piled up (searches go on meanwhile)."""
        while not stop.wait(self.settings.list_poll_seconds):
            try:
                self.sync_lists()
            except Exception:  # the database may be away: keep the index we have, try again
                log.exception("could not follow list changes")
            try:
                if compacted := self.matchers.current.compact():
                    log.info("indexes compacted", indexes=compacted)
            except Exception:
                log.exception("could not compact the indexes")


def build_app(
    settings: Settings,
    reporting: ReportingSettings | None = None,
    visible_customers: VisibleCustomers | None = None,
) -> App:
    """``visible_customers`` says which customers' analytics a caller may read (default:
    ``partner_customers``)."""
    reporting = reporting or load(ReportingSettings)
    store = open_store(settings, reporting)
    matchers = MatcherHolder(build_matcher(store, index_dir(settings.data_dir)))
    journal = Journal(settings.data_dir / "journal", store.actions.evidence)
    pool = hash_pool(settings)
    customers = customer_policies(settings, store)
    scan_engine = ScanEngine(
        settings.hashing,
        matchers,
        store,
        journal=journal,
        degraded_verdict=Verdict(settings.degraded_verdict),
        hash_function=pool.hash if pool is not None else None,
        flood=FloodGuard(settings.flood),
        customers=customers,
    )
    engine, hash_log = attach_hash_log(scan_engine, store)
    auth, audit_reader = access(settings, store)
    review = review_service(store, matchers) if auth is not None else None
    customers_api = customers_service(store, reporting, journal) if auth is not None else None
    counter = ScanCounter()
    counts = DailyCountStore(store.engine)
    server = create_server(
        settings,
        engine,
        store,
        auth=auth,
        audit_reader=audit_reader,
        review=review,
        customers=customers_api,
        pool=pool,
        analytics=AnalyticsService(counts, visible_customers or partner_customers(store)),
        scan_counter=counter,
    )
    flusher = CountFlusher(counter, counts, settings.analytics_flush_seconds)
    return App(
        settings,
        reporting,
        store,
        matchers,
        engine,
        server,
        hash_log,
        journal,
        customers=customers,
        counts=flusher,
    )


def partner_customers(store: Store) -> VisibleCustomers:
    """Whose analytics a caller may read: a partner's token, its own customers' (the Customers
    service's ownership); an operator with ``analytics:read``, everyone's."""
    from reporting.customers.store import CustomerStore

    customers = CustomerStore(store.engine)

    def visible(principal: Principal) -> Sequence[str] | None:
        if principal.partner_id is not None:
            return customers.visible_customer_ids(principal.partner_id) or []
        return operators_only(principal)

    return visible


def hash_pool(settings: Settings) -> HashPool | None:
    """The hashing processes (``hash_workers``), started; None to hash in this process."""
    if settings.hash_workers == 0:
        return None
    pool = HashPool(
        settings.hash_workers,
        settings.hashing,
        queue_size=settings.queue_size,
        timeout_seconds=settings.hash_timeout_seconds,
        memory_mb=settings.hash_memory_mb,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )
    pool.start()
    return pool


def serve(settings: Settings, with_worker: bool = True, with_web: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then drain: health goes NOT_SERVING, in-flight RPCs finish.

    ``with_web`` also serves the analysts' review page (``web_host:web_port``); a false positive
    decided there reaches this process's matcher at once."""
    app = build_app(settings)
    web = None
    if with_web:
        from scanner.web.build import web_server

        web = web_server(settings, app.store, on_lists_changed=app.sync_lists)
    stop = threading.Event()
    worker_stop = threading.Event()
    worker_thread = None
    if with_worker:
        worker = make_worker(app.store, app.reporting)
        worker_thread = threading.Thread(
            target=worker.run, args=(worker_stop,), name="outbox-worker", daemon=True
        )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("shutting down", signal=signal.Signals(signum).name, grace_seconds=settings.grace_seconds)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGHUP reloads the lists from the database without a restart.
    signal.signal(signal.SIGHUP, lambda *_: app.reload_lists())
    # Health turns SERVING once every kernel is warm (scanner/warmup.py): the first scan a load
    # balancer sends is as fast as the tenth.
    app.server.start(warm=True)
    if web is not None:
        web.start()
        log.info("review page", address=host_port(settings.web_host, web.port))
    if worker_thread is not None:
        worker_thread.start()
    if app.hash_log is not None:
        hash_log_thread = threading.Thread(target=app.hash_log.run, args=(worker_stop,), name="hash-log")
        hash_log_thread.start()
    lists_thread = threading.Thread(
        target=app.watch_lists, args=(worker_stop,), name="list-watcher", daemon=True
    )
    lists_thread.start()
    customers_thread = threading.Thread(
        target=app.watch_customers, args=(worker_stop,), name="customer-watcher", daemon=True
    )
    customers_thread.start()
    replay_thread = threading.Thread(target=app.replay_journal, args=(worker_stop,), name="journal-replay")
    replay_thread.start()
    counts_thread = None
    if app.counts is not None:
        # Stopped only after the server drained: the last flush holds every scan answered.
        counts_thread = threading.Thread(target=app.counts.run, args=(worker_stop,), name="scan-counts")
        counts_thread.start()
    metrics = None
    if settings.metrics_port:
        try:
            metrics = app.metrics(settings.metrics_port)
        except OSError as exc:  # keep answering scans; say loudly that nobody can see them
            log.error("metrics endpoint not started", port=settings.metrics_port, error=str(exc))
    log.info(
        "serving",
        address=host_port(settings.host, app.server.port),
        metrics_port=metrics.port if metrics is not None else None,
        tls=settings.tls_cert is not None,
        mtls=settings.tls_client_ca is not None,
        lists=list_sizes(app.matchers.current),
        hash_mode=str(settings.hash_mode),
        hash_workers=settings.hash_workers,
        queue_size=settings.queue_size,
    )
    # Wake up regularly: a signal delivered to one of gRPC's threads only runs its Python
    # handler once the main thread executes bytecode again.
    while not stop.wait(0.25):
        pass
    app.server.set_serving(False)
    time.sleep(settings.shutdown_delay_seconds)
    app.server.drain(settings.grace_seconds)
    if web is not None:
        web.stop(settings.grace_seconds)
    worker_stop.set()
    replay_thread.join(timeout=settings.grace_seconds)
    if metrics is not None:
        metrics.stop()
    if worker_thread is not None:
        worker_thread.join(timeout=settings.grace_seconds)
    if app.hash_log is not None:
        hash_log_thread.join(timeout=settings.grace_seconds)
    if counts_thread is not None:
        counts_thread.join(timeout=settings.grace_seconds)
    log.info("stopped")


def journal_sink(store: Store) -> JournalSink:
    """Records a spooled match with its journal id, which the database keeps unique: a replay
    after a crash between the commit and the file's deletion finds the match already there."""
    from reporting import models

    def record(entry: JournalRecord) -> int:
        def mark(session: Any, match_id: int) -> None:
            earlier = (
                session.query(models.Match.id).filter(models.Match.journal_id == entry.journal_id).scalar()
            )
            if earlier is not None:
                raise AlreadyRecorded(earlier)  # rolls this transaction back
            session.get(models.Match, match_id).journal_id = entry.journal_id

        decision = entry.decision(store.list_configs)
        return store.record_match(entry.context, entry.hashes, decision, entry.content, also=mark)

    return record


def outbox_stats(store: Store) -> OutboxStats:
    """Deliveries waiting (pending or claimed; digest rows wait on purpose and are left out)."""
    from reporting import models
    from reporting.db import session_factory

    with session_factory(store.engine)() as session:
        waiting = session.query(models.Delivery.created_at).filter(
            models.Delivery.state.in_(("pending", "in_progress"))
        )
        depth = waiting.count()
        oldest = waiting.order_by(models.Delivery.created_at).limit(1).scalar()
    if oldest is None:
        return OutboxStats(depth, 0.0)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return OutboxStats(depth, max(0.0, (models.utcnow() - oldest).total_seconds()))
