"""rescans: matches.source, rescan_seen, scan_hash_log

Revision ID: 0003_rescans
Revises: 0002
Create Date: 2026-11-26 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_rescans"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="scan", nullable=False))
    op.create_table(
        "rescan_seen",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("match_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("rescan_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rescan_seen_match_id"), ["match_id"], unique=False)
    op.create_table(
        "scan_hash_log",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scan_hash_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_hash_log_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scan_hash_log_scanned_at"), ["scanned_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scan_hash_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_hash_log_scanned_at"))
        batch_op.drop_index(batch_op.f("ix_scan_hash_log_customer_id"))
    op.drop_table("scan_hash_log")
    with op.batch_alter_table("rescan_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rescan_seen_match_id"))
    op.drop_table("rescan_seen")
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_column("source")
