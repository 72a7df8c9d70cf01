from __future__ import annotations

import os

import pytest

from reporting.matches.evidence import EvidenceBox
from reporting.store import ActionConfig, Store


@pytest.fixture
def acting(store: Store) -> Store:
    """The test database's store, keeping evidence (so a case has its image)."""
    return Store(store.engine, ActionConfig(evidence=EvidenceBox(os.urandom(32))))
