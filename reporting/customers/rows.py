"""The customer row as every operation of ``CustomerStore`` reads and writes it.

``find_customer`` is the one lookup: within the caller's partner (None: an operator, who sees
every customer), so a customer outside it is reported exactly like one that does not exist and a
partner learns nothing from guessing ids. ``touch`` stamps a change with the next value of the
customers' change counter (``customers_head``), which a running server follows.
"""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from reporting import models
from reporting.customers.values import CustomerSettings, CustomerView, mask_email
from scanner.errors import NotFound


class CustomerNotFound(NotFound):
    pass


class CustomerTable:
    """What each part of ``CustomerStore`` works through; ``CustomerStore.__init__`` sets it."""

    engine: Engine
    _sessions: sessionmaker[Session]


def find_customer(
    session: Session, customer_id: str, partner: str | None, lock: bool = False
) -> models.Customer:
    query = select(models.Customer).where(
        models.Customer.customer_id == customer_id, models.Customer.deleted_at.is_(None)
    )
    if partner is not None:
        query = query.where(models.Customer.partner_id == partner)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        # The same words whether it is missing or someone else's.
        raise CustomerNotFound(f"no customer {customer_id!r}")
    return row


def touch(session: Session, row: models.Customer) -> None:
    row.version = bump(session)
    row.updated_at = models.utcnow()


def bump(session: Session) -> int:
    """The customers' next change number (locks the counter row until the transaction ends)."""
    session.execute(
        update(models.CustomersHead)
        .where(models.CustomersHead.id == 1)
        .values(version=models.CustomersHead.version + 1)
        .execution_options(synchronize_session=False)
    )
    version = session.scalar(select(models.CustomersHead.version).where(models.CustomersHead.id == 1))
    assert version is not None
    return int(version)


def sites_of(session: Session, pks: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    if pks:
        for pk, host in session.execute(
            select(models.CustomerSite.customer_pk, models.CustomerSite.host)
            .where(models.CustomerSite.customer_pk.in_(pks))
            .order_by(models.CustomerSite.host)
        ):
            found.setdefault(pk, []).append(host)
    return {pk: tuple(hosts) for pk, hosts in found.items()}


def view_of(session: Session, row: models.Customer, sites: tuple[str, ...] | None = None) -> CustomerView:
    if sites is None:
        sites = sites_of(session, [row.id]).get(row.id, ())
    return CustomerView(
        row.customer_id,
        row.partner_id,
        row.name,
        mask_email(row.email),
        row.email_state,
        row.enabled,
        CustomerSettings.from_json(row.settings),
        sites,
        row.created_at,
        row.updated_at,
    )
