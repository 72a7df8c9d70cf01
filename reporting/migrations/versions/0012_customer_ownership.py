"""customer ownership: who owns each destination, daily counts by customer, the log of
verification emails the sending limits count

Revision ID: 0012_customer_ownership
Revises: 0011_analytics
Depends on: 0009_customers (the customers' rows decide which destinations are theirs)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_customer_ownership"
down_revision = "0011_analytics"
branch_labels = None
depends_on = "0009_customers"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("destinations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("owner", sa.String(length=16), server_default="operator", nullable=False)
        )
    _mark_customer_destinations()
    op.create_index("ix_daily_counts_customer_id", "daily_counts", ["customer_id"], unique=False)
    op.create_table(
        "customer_verification_mails",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("sent_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for name, columns in (
        ("partner", ["partner_id", "sent_at"]),
        ("actor", ["actor", "sent_at"]),
        ("address", ["address_hash", "sent_at"]),
    ):
        op.create_index(f"ix_customer_verification_mails_{name}", "customer_verification_mails", columns)


def _mark_customer_destinations() -> None:
    """The Customers service's ``customer-email`` destinations become the customer's. One is
    taken for the customer's only when it still sends to the customer's verified address (or
    the customer is deleted: it was disabled then): an operator may have named its own
    destination ``customer-email``, and that one stays the operator's."""
    connection = op.get_bind()
    destinations = sa.table(
        "destinations",
        sa.column("id", _ID),
        sa.column("customer_id", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("name", sa.String()),
        sa.column("config", sa.JSON()),
        sa.column("owner", sa.String()),
    )
    customers = sa.table(
        "customers",
        sa.column("customer_id", sa.String()),
        sa.column("verified_email", sa.String()),
        sa.column("deleted_at", _AT),
    )
    rows = connection.execute(
        sa.select(
            destinations.c.id, destinations.c.config, customers.c.verified_email, customers.c.deleted_at
        )
        .join(customers, customers.c.customer_id == destinations.c.customer_id)
        .where(destinations.c.name == "customer-email", destinations.c.kind == "email")
    )
    theirs = [
        row.id
        for row in rows
        if row.deleted_at is not None
        or (row.verified_email is not None and (row.config or {}).get("to") == [row.verified_email])
    ]
    if theirs:
        connection.execute(
            sa.update(destinations).where(destinations.c.id.in_(theirs)).values(owner="customer")
        )


def downgrade() -> None:
    for name in ("address", "actor", "partner"):
        op.drop_index(f"ix_customer_verification_mails_{name}", table_name="customer_verification_mails")
    op.drop_table("customer_verification_mails")
    op.drop_index("ix_daily_counts_customer_id", table_name="daily_counts")
    with op.batch_alter_table("destinations", schema=None) as batch_op:
        batch_op.drop_column("owner")
