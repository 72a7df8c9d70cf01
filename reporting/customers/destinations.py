"""The notice destinations a customer owns, as opposed to the ones an operator added for it.

The Customers service makes one destination for a customer: ``customer-email``, for its verified
address, owned by the customer (``models.CUSTOMER_OWNED``). ``hashwatch destinations add`` makes
the operator's (``models.OPERATOR_OWNED``), whatever its name. What the customer (or its partner)
does reaches only its own: verifying an address never repoints an operator's destination, and
deleting the customer never silences an operator's.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from reporting import models
from reporting.customers.values import CustomerSettings

# The notice destination created for a verified address (``reporting.models.Destination.name``).
EMAIL_DESTINATION = "customer-email"


def _own_email(session: Session, customer_id: str) -> models.Destination | None:
    return session.scalar(
        select(models.Destination).where(
            models.Destination.customer_id == customer_id,
            models.Destination.owner == models.CUSTOMER_OWNED,
            models.Destination.name == EMAIL_DESTINATION,
        )
    )


def point_email_destination(session: Session, row: models.Customer) -> None:
    """Point the customer's notice destination at its verified address."""
    assert row.verified_email is not None
    notify = CustomerSettings.from_json(row.settings).notify
    config = {"to": [row.verified_email], "mode": notify}
    destination = _own_email(session, row.customer_id)
    if destination is None:
        session.add(
            models.Destination(
                customer_id=row.customer_id,
                owner=models.CUSTOMER_OWNED,
                kind="email",
                name=EMAIL_DESTINATION,
                config=config,
                mode=notify,
                enabled=True,
                last_digest_at=models.utcnow() if notify == "digest" else None,
            )
        )
    else:
        destination.config, destination.enabled = config, True
        if destination.mode != notify:
            destination.mode = notify
            destination.last_digest_at = models.utcnow() if notify == "digest" else None


def set_notify_mode(session: Session, customer_id: str, notify: str) -> None:
    destination = _own_email(session, customer_id)
    if destination is not None:
        destination.mode = notify
        destination.config = {**destination.config, "mode": notify}
        # The first digest covers one full period from the change.
        destination.last_digest_at = models.utcnow() if notify == "digest" else None


def disable_own_destinations(session: Session, customer_id: str) -> int:
    """Turn off the customer's own destinations (not an operator's); how many were on."""
    destinations = list(
        session.scalars(
            select(models.Destination).where(
                models.Destination.customer_id == customer_id,
                models.Destination.owner == models.CUSTOMER_OWNED,
                models.Destination.enabled.is_(True),
            )
        )
    )
    for destination in destinations:
        destination.enabled = False
    return len(destinations)
