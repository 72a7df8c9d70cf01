"""Wires the review page from settings and an open store (``hashwatch web``, ``serve --web-port``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from scanner.settings import Settings
from scanner.web.app import ReviewPage, create_web_app
from scanner.web.server import WebServer

if TYPE_CHECKING:
    from reporting.store import Store


def review_page(
    settings: Settings, store: Store, on_lists_changed: Callable[[], object] | None = None
) -> ReviewPage:
    from reporting.access.accounts import Accounts
    from reporting.access.sessions import WebSessions
    from reporting.matches.evidence_store import EvidenceStore
    from reporting.review.decisions import Decisions
    from reporting.review.exposure import ExposureLog
    from reporting.review.queue import ReviewQueue

    return ReviewPage(
        queue=ReviewQueue(store.engine),
        decisions=Decisions(store.engine, on_lists_changed=on_lists_changed),
        exposure=ExposureLog(store.engine),
        accounts=Accounts(store.engine),
        evidence=EvidenceStore(store.engine, store.actions.evidence),
        sessions=WebSessions(
            store.engine,
            lifetime=timedelta(minutes=settings.web_session_minutes),
            idle=timedelta(minutes=settings.web_idle_minutes),
        ),
        daily_reveals=settings.review_daily_reveals,
        secure_cookies=settings.web_secure_cookies or settings.web_tls_cert is not None,
    )


def web_app(
    settings: Settings, store: Store, on_lists_changed: Callable[[], object] | None = None
) -> Starlette:
    return create_web_app(review_page(settings, store, on_lists_changed))


def web_server(
    settings: Settings, store: Store, on_lists_changed: Callable[[], object] | None = None
) -> WebServer:
    """Bound to ``web_host:web_port`` (0: any free port) when started."""
    return WebServer(
        web_app(settings, store, on_lists_changed),
        settings.web_host,
        settings.web_port,
        settings.web_tls_cert,
        settings.web_tls_key,
    )
