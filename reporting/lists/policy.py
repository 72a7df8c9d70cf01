"""Storing a list's policy: which of its algorithms decide, and what a match on it sets in motion.

The policy itself is ``index.policy.ActionPolicy`` (re-exported here for the database side): it is
part of the list's config (``reporting.lists.changes.list_config``), so the scan's decision step
computes a match's whole outcome, verdict and actions, from the same policy the servers hold.
Changing it here takes the list's next version, which is how running servers learn of it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index.policy import DEFAULT_DECIDING, ActionPolicy, ReportWhen, parse_deciding
from reporting import audit, models
from reporting.lists.changes import bump_version

__all__ = ["DEFAULT_DECIDING", "ActionPolicy", "ReportWhen", "parse_deciding", "set_policy"]


def set_policy(session: Session, list_name: str, changes: dict[str, Any], actor: str) -> ActionPolicy:
    """Change a list's policy inside the caller's transaction; unknown keys and values are a
    ``ValueError``. A change takes the list's next version: servers follow it on their next
    list poll, as they follow its entries."""
    row = session.scalar(select(models.HashList).where(models.HashList.name == list_name))
    if row is None:
        raise LookupError(f"no list named {list_name!r}")
    before = ActionPolicy.from_json(row.policy or {})
    policy = ActionPolicy.from_json({**before.to_json(), **changes})
    audit.record(session, actor, "list.policy", list_name, {"before": row.policy, "after": policy.to_json()})
    if policy != before:
        row.policy = policy.to_json()
        session.flush()
        bump_version(session, row.id)
    return policy
