"""An analyst's exposure: reveals recorded and limited per analyst per day."""

from __future__ import annotations

import pytest

from reporting import audit
from reporting.review.errors import ExposureLimitReached
from reporting.review.exposure import ExposureLog
from reporting.store import NewEntry, Store
from tests.reporting.review.review_fixtures import A, audit_actions, new_case


def test_reveals_are_recorded_and_limited_per_analyst_per_day(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A)])
    exposure = ExposureLog(acting.engine)
    match_id = new_case(acting, "https://site.example/a.jpg")

    assert not exposure.revealed(match_id, "analyst:ann")
    assert exposure.reveal(match_id, "analyst:ann", daily_limit=2).used == 1
    assert exposure.revealed(match_id, "analyst:ann") and not exposure.revealed(match_id, "analyst:bob")
    assert exposure.reveal(match_id, "analyst:ann", daily_limit=2).left == 0
    with pytest.raises(ExposureLimitReached, match="limit is 2"):
        exposure.reveal(match_id, "analyst:ann", daily_limit=2)
    assert exposure.reveal(match_id, "analyst:bob", daily_limit=2).used == 1
    assert exposure.today("analyst:ann", 2).used == 2
    actions = [a for actor, a, _ in audit_actions(acting) if actor == "analyst:ann"]
    assert actions == ["evidence.reveal", "evidence.reveal", "evidence.reveal_refused"]
    assert audit.verify(acting.engine).ok
