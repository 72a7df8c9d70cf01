"""Migration 0012 on a database that already holds customers and destinations (SQLite and
PostgreSQL): the Customers service's own ``customer-email`` destinations become the customer's,
every other one the operator's."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text

from reporting.db import alembic_config, make_engine, migrate


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def _upgrade(engine: Engine, target: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def test_existing_destinations_get_their_owner(engine: Engine) -> None:
    for revision in ("0009_customers", "0011_analytics"):
        _upgrade(engine, revision)
    now = "2026-01-02 03:04:05"
    with engine.begin() as conn:
        for customer_id, verified, deleted in (
            ("shop", "owner@shop.example", None),
            ("gone", None, now),
            ("unverified", None, None),
        ):
            conn.execute(
                text(
                    "INSERT INTO customers (customer_id, name, email_state, verified_email, enabled, "
                    "settings, version, created_by, created_at, updated_at, deleted_at) VALUES "
                    "(:c, '', 'verified', :v, false, '{}', 1, 'test', :now, :now, :deleted)"
                ),
                {"c": customer_id, "v": verified, "now": now, "deleted": deleted},
            )
        for customer_id, kind, name, to in (
            ("shop", "email", "customer-email", ["owner@shop.example"]),  # the service's own
            ("shop", "email", "customer-email", "ops@operator.example"),  # an operator's, same name
            ("shop", "webhook", "ops-hook", None),
            ("gone", "email", "customer-email", ["old@gone.example"]),  # disabled at deletion
            ("unverified", "email", "customer-email", ["x@operator.example"]),  # no address to be
            ("nobody", "email", "customer-email", ["y@operator.example"]),  # no customer row
        ):
            conn.execute(
                text(
                    "INSERT INTO destinations (customer_id, kind, name, config, mode, enabled, created_at) "
                    "VALUES (:c, :k, :n, :config, 'immediate', true, :now)"
                ),
                {"c": customer_id, "k": kind, "n": name, "config": json.dumps({"to": to}), "now": now},
            )
    migrate(engine)
    with engine.connect() as conn:
        owners = [
            (row.customer_id, row.name, row.owner)
            for row in conn.execute(text("SELECT customer_id, name, owner FROM destinations ORDER BY id"))
        ]
    assert owners == [
        ("shop", "customer-email", "customer"),
        ("shop", "customer-email", "operator"),
        ("shop", "ops-hook", "operator"),
        ("gone", "customer-email", "customer"),
        ("unverified", "customer-email", "operator"),
        ("nobody", "customer-email", "operator"),
    ]
