"""Decisions for tests that record matches themselves, as the scan's decision step hands them over."""

from __future__ import annotations

from collections.abc import Sequence

from index.matcher import MatchHit
from reporting.lists.store import ListStore
from scanner.decision import Decision, actions_for


def as_decided(store: ListStore, hits: Sequence[MatchHit]) -> Decision:
    """``hits`` with the actions they carry, and what the lists' stored policies set in motion for
    them (``scanner.decision.actions_for``): what the decision step gives ``record_match``."""
    return Decision(tuple(hits), actions=actions_for(hits, store.list_configs()))
