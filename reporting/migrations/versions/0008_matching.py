"""matching policy: review bands, algorithm combination, negative lists, low-quality entries,
the variant and action of each hit, flood holds

Revision ID: 0008_matching
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_matching"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="match"))
        batch_op.add_column(sa.Column("review", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("combine", sa.String(length=16), nullable=False, server_default="any"))
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("low_quality", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("match_hits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("action", sa.String(length=16), nullable=False, server_default="block"))
    op.create_table(
        "entry_holds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("list_id", _ID, nullable=False),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("match_id", _ID, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("held_at", _AT, nullable=False),
        sa.Column("released_at", _AT, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["hash_lists.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["entry_id"], ["list_entries.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_entry_holds_list_state", "entry_holds", ["list_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_entry_holds_list_state", table_name="entry_holds")
    op.drop_table("entry_holds")
    with op.batch_alter_table("match_hits", schema=None) as batch_op:
        batch_op.drop_column("action")
        batch_op.drop_column("variant")
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_column("low_quality")
    with op.batch_alter_table("hash_lists", schema=None) as batch_op:
        batch_op.drop_column("combine")
        batch_op.drop_column("review")
        batch_op.drop_column("kind")
