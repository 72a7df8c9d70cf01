"""Adding, listing and testing a customer's destinations, and their delivery history.

What an operator adds here is the operator's (``owner`` "operator"): nothing a customer or its
partner does through the Customers service changes or disables it (reporting/customers/destinations.py).
A destination's secrets (the fields its kind declares as ``Secret``: a webhook's ``secret``, a
PagerDuty ``routing_key``) are stored sealed with the local key (``reporting.sealed``), bound to
the destination's id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from index.text import refused_character
from reporting import models
from reporting.db import session_factory
from reporting.destinations.registry import KINDS, NAMES, build_destination, find_kind, redact_config
from reporting.events import make_test_event
from reporting.keys import LocalKey
from reporting.matches.actions import new_event
from reporting.sealed import SealedSecrets
from reporting.settings import ReportingSettings

MODES = ("immediate", "digest")


@dataclass(frozen=True)
class DestinationView:
    id: int
    customer_id: str
    # "operator" (added here) or "customer" (the Customers service's, for a verified address)
    owner: str
    kind: str
    name: str
    mode: str
    enabled: bool
    config: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_id: str
    event_kind: str
    state: str
    attempts: int
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


class DestinationAdmin:
    def __init__(self, engine: Engine, settings: ReportingSettings, secrets: LocalKey | None = None) -> None:
        self._sessions = session_factory(engine)
        self.settings = settings
        self._sealed = SealedSecrets(engine, secrets)

    def add(
        self, customer_id: str, kind: str, config: dict[str, Any], name: str = "", mode: str = "immediate"
    ) -> int:
        found = find_kind(kind)
        if found is None:
            raise ValueError(f"unknown destination kind {kind!r}; choose from {', '.join(NAMES)}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
        if mode == "digest" and not found.digest:
            digesting = " or ".join(k.name for k in KINDS if k.digest)
            raise ValueError(f"only {digesting} destinations can send a digest")
        if (refused := refused_character(name)) is not None:
            raise ValueError(f"the destination's name contains {refused}")
        build_destination(kind, config, self.settings)  # refuses a bad config before it is stored
        with self._sessions.begin() as session:
            row = models.Destination(
                customer_id=customer_id,
                owner=models.OPERATOR_OWNED,
                kind=kind,
                name=name,
                config=self._sealed.unsealed_placeholder(config),
                mode=mode,
                # The first digest covers one full period from now.
                last_digest_at=models.utcnow() if mode == "digest" else None,
            )
            session.add(row)
            session.flush()
            row.config = self._sealed.seal_config(row.id, config)
            return row.id

    def all(self, customer_id: str | None = None) -> list[DestinationView]:
        with self._sessions() as session:
            query = select(models.Destination).order_by(models.Destination.id)
            if customer_id is not None:
                query = query.where(models.Destination.customer_id == customer_id)
            return [
                _view(row, self._sealed.open_config(row.id, row.config)) for row in session.scalars(query)
            ]

    def set_enabled(self, destination_id: int, enabled: bool) -> None:
        with self._sessions.begin() as session:
            row = session.get(models.Destination, destination_id)
            if row is None:
                raise LookupError(f"no destination {destination_id}")
            row.enabled = enabled

    def queue_test(self, destination_id: int) -> str:
        """Queue a test event for one destination; the worker delivers it like any other.
        Returns the event id."""
        with self._sessions.begin() as session:
            row = session.get(models.Destination, destination_id)
            if row is None:
                raise LookupError(f"no destination {destination_id}")
            sample = make_test_event(row.customer_id)
            event = new_event(session, "test", row.customer_id, 0, dict(sample.payload))
            session.flush()
            session.add(
                models.Delivery(event_id=event.id, target=f"destination:{row.id}", destination_id=row.id)
            )
            return event.id

    def history(self, destination_id: int, limit: int = 50) -> list[DeliveryView]:
        with self._sessions() as session:
            rows = session.execute(
                select(models.Delivery, models.Event.kind)
                .join(models.Event, models.Event.id == models.Delivery.event_id)
                .where(models.Delivery.destination_id == destination_id)
                .order_by(models.Delivery.id.desc())
                .limit(limit)
            )
            return [
                DeliveryView(
                    d.id, d.event_id, kind, d.state, d.attempts, d.last_error, d.created_at, d.delivered_at
                )
                for d, kind in rows
            ]


def _view(row: models.Destination, config: dict[str, Any]) -> DestinationView:
    return DestinationView(
        row.id,
        row.customer_id,
        row.owner,
        row.kind,
        row.name,
        row.mode,
        row.enabled,
        redact_config(config),
        row.created_at,
    )
