"""The scanner's ports, implemented over the database for the composition root (``scanner.app``):
the journal's sink (``scanner.journal``), the outbox's depth for the metrics
(``scanner.metrics``), and whose analytics a caller may read (``scanner.rpc.analytics_service``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from reporting.store import Store
from scanner.auth import Principal
from scanner.journal import AlreadyRecorded, JournalRecord, JournalSink
from scanner.metrics import OutboxStats
from scanner.rpc.analytics_service import VisibleCustomers, operators_only


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
