"""list versions: incremental index updates

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changed_version", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.create_index("ix_list_entries_changes", ["list_id", "changed_version"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_list_entries_changes")
        batch_op.drop_column("changed_version")
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.drop_column("version")
