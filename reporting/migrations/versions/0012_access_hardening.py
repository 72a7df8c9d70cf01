"""access hardening: tokens bound to a customer, the audit chain's MACs

Revision ID: 0012_access_hardening
Revises: 0011_analytics
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_access_hardening"
down_revision = "0011_analytics"
branch_labels = None
# The tables changed here are 0004's; the migrations branch from 0002, so say so.
depends_on = "0004_access"


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("customer_id", sa.String(length=200), nullable=True))
    # Records written before this have none; reporting/audit_seal.py.
    op.add_column("audit_log", sa.Column("mac", sa.String(length=64), nullable=True))
    op.add_column("audit_head", sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table, column in (("audit_head", "mac"), ("audit_log", "mac"), ("api_tokens", "customer_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
