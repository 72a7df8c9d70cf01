"""The composition root: settings → database → matcher → engine → server.

Everything here builds; running the result is ``scanner.process``, and the scanner's ports over
the database it wires in (journal sink, outbox depth, analytics visibility) are
``scanner.store_ports``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

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
from scanner.analytics.counter import CountFlusher, ScanCounter
from scanner.auditlog import AuditReader
from scanner.auth import TokenVerifier
from scanner.customer_policy import CustomerPolicies
from scanner.engine import MatcherHolder, ScanEngine, Verdict
from scanner.flood import FloodGuard
from scanner.hashpool.pool import HashPool
from scanner.journal import Journal
from scanner.metrics import (
    INDEX_SNAPSHOTS_REFUSED,
    IndexCollector,
    JournalCollector,
    MetricsEndpoint,
    OutboxCollector,
)
from scanner.rescan.hashlog import HashLogFlusher
from scanner.rescan.service import attach_hash_log
from scanner.rpc.analytics_service import AnalyticsService, VisibleCustomers
from scanner.rpc.audit_service import AuditService
from scanner.rpc.customers_service import CustomersService
from scanner.rpc.review_service import ReviewService
from scanner.rpc.server import Server, create_server
from scanner.settings import Settings, load
from scanner.store_ports import journal_sink, outbox_stats, partner_customers

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
    from reporting.review.appeals import Appeals
    from reporting.review.decisions import Decisions
    from reporting.review.queue import ReviewQueue
    from reporting.review.values import Reviewer

    def follow() -> None:
        added, removed = apply_changes(
            matchers.current, changes_since(store.engine, matchers.current.configs())
        )
        log.info("lists updated after a review decision", added=added, removed=removed)

    return ReviewService(
        ReviewQueue(store.engine),
        Decisions(store.engine, on_lists_changed=follow),
        Appeals(store.engine),
        Reviewer,
    )


def customers_service(
    store: Store, reporting: ReportingSettings, journal: Journal | None = None
) -> CustomersService:
    """The Customers service; verification codes go out through the notices' SMTP server,
    within the sending limits. Ids in ``journal`` count as known (reporting/customers/ids.py)."""
    from reporting.customers.email import SmtpVerificationMailer
    from reporting.customers.mail_limits import MailLimits
    from reporting.customers.store import CustomerStore
    from reporting.customers.values import CustomerSettings
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
    counter = ScanCounter()
    counts = DailyCountStore(store.engine)
    # Served beside Scanner; the audit log, the review queue and customers only behind tokens.
    services = [AnalyticsService(counts, visible_customers or partner_customers(store)).served()]
    if auth is not None and audit_reader is not None:
        services += [
            AuditService(audit_reader).served(),
            review_service(store, matchers).served(),
            customers_service(store, reporting, journal).served(),
        ]
    server = create_server(
        settings, engine, store, auth=auth, pool=pool, scan_counter=counter, services=services
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
