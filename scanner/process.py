"""The serving process: ``serve`` runs the server built by ``scanner.app.build_app`` with its
background threads (outbox worker, list and customer watchers, journal replay, hash log, scan
counts), the review page when asked, and the metrics endpoint, until SIGTERM or SIGINT; then it
drains them in order.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

import structlog

from scanner.addresses import host_port
from scanner.app import build_app, list_sizes, make_worker
from scanner.settings import Settings

log = structlog.get_logger(__name__)


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
