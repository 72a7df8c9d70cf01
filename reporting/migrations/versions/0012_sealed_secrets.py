"""sealed secrets: the local key's check value; room for a sealed TOTP secret on PostgreSQL

The secrets themselves are sealed by ``reporting.sealed`` when a command opens the database:
a migration has no key.

Revision ID: 0012_sealed_secrets
Revises: 0011_analytics
Depends on: 0004_access (the analysts table)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_sealed_secrets"
down_revision = "0011_analytics"
branch_labels = None
depends_on = "0004_access"


def upgrade() -> None:
    op.create_table(
        "secrets_key_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A sealed seed is ~90 characters. SQLite does not enforce VARCHAR lengths (and changing a
    # column's type there means rebuilding a table others reference), so only PostgreSQL's
    # column is widened.
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "analysts", "totp_secret", type_=sa.Text(), existing_type=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "analysts", "totp_secret", type_=sa.String(64), existing_type=sa.Text(), existing_nullable=False
        )
    op.drop_table("secrets_key_check")
