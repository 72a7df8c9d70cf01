"""customers: customers, their sites, email verification codes, the customers' change counter

Revision ID: 0009_customers
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_customers"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_state", sa.String(length=16), nullable=False),
        sa.Column("verified_email", sa.String(length=320), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("version", _ID, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("deleted_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id"),
    )
    op.create_index("ix_customers_partner_id", "customers", ["partner_id"], unique=False)
    op.create_table(
        "customer_sites",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_pk", _ID, nullable=False),
        sa.Column("host", sa.String(length=260), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("host"),
    )
    op.create_index("ix_customer_sites_customer_pk", "customer_sites", ["customer_pk"], unique=False)
    op.create_table(
        "customer_email_verifications",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_pk", _ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_pk"),
    )
    head = op.create_table(
        "customers_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", _ID, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(head, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("customers_head")
    op.drop_table("customer_email_verifications")
    op.drop_index("ix_customer_sites_customer_pk", table_name="customer_sites")
    op.drop_table("customer_sites")
    op.drop_index("ix_customers_partner_id", table_name="customers")
    op.drop_table("customers")
