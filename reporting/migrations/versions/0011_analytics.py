"""analytics: per-customer daily counters

Revision ID: 0011_analytics
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_analytics"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "customer_id",
            sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "customer_id", "metric"),
    )
    op.create_table(
        "count_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_count_batches_added_at", "count_batches", ["added_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_count_batches_added_at", table_name="count_batches")
    op.drop_table("count_batches")
    op.drop_table("daily_counts")
