"""review: case state, decisions, review requests, entry flags, evidence reveals, web sessions

Revision ID: 0005_review
Revises: 0002
Create Date: 2026-11-26 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_review"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "case_reviews",
        sa.Column("match_id", _ID, autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", _AT, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("match_id"),
    )
    op.create_index("ix_case_reviews_queue", "case_reviews", ["state", "priority"], unique=False)
    op.create_table(
        "review_decisions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("match_id", _ID, nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("previous_state", sa.String(length=16), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_decisions_match_id", "review_decisions", ["match_id"], unique=False)
    op.create_table(
        "review_requests",
        sa.Column("id", _ID, nullable=False),
        sa.Column("match_id", _ID, nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attestation", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decision_id", _ID, nullable=True),
        sa.Column("resolved_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["review_decisions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_requests_customer_id", "review_requests", ["customer_id"], unique=False)
    op.create_index("ix_review_requests_match_id", "review_requests", ["match_id"], unique=False)
    op.create_table(
        "entry_flags",
        sa.Column("id", _ID, nullable=False),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("list_id", _ID, nullable=False),
        sa.Column("match_id", _ID, nullable=False),
        sa.Column("flagged_by", sa.String(length=200), nullable=False),
        sa.Column("flagged_at", _AT, nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["list_entries.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["list_id"], ["hash_lists.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_entry_flags_entry_id", "entry_flags", ["entry_id"], unique=False)
    op.create_index("ix_entry_flags_match_id", "entry_flags", ["match_id"], unique=False)
    op.create_table(
        "evidence_reveals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("match_id", _ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("revealed_at", _AT, nullable=False),
        sa.Column("valid_until", _AT, nullable=False),
        sa.ForeignKeyConstraint(["match_id"], ["matches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_evidence_reveals_actor_day", "evidence_reveals", ["actor", "day"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("analyst_id", _ID, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("last_seen_at", _AT, nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("ended_at", _AT, nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_index("ix_web_sessions_analyst_id", "web_sessions", ["analyst_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_web_sessions_analyst_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_evidence_reveals_actor_day", table_name="evidence_reveals")
    op.drop_table("evidence_reveals")
    op.drop_index("ix_entry_flags_match_id", table_name="entry_flags")
    op.drop_index("ix_entry_flags_entry_id", table_name="entry_flags")
    op.drop_table("entry_flags")
    op.drop_index("ix_review_requests_match_id", table_name="review_requests")
    op.drop_index("ix_review_requests_customer_id", table_name="review_requests")
    op.drop_table("review_requests")
    op.drop_index("ix_review_decisions_match_id", table_name="review_decisions")
    op.drop_table("review_decisions")
    op.drop_index("ix_case_reviews_queue", table_name="case_reviews")
    op.drop_table("case_reviews")
