"""journal: matches replayed from the scanner's local journal carry its id

Revision ID: 0007_journal
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_journal"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("journal_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_matches_journal_id", ["journal_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index("ix_matches_journal_id")
        batch_op.drop_column("journal_id")
