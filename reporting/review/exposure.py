"""An analyst's exposure to the images: reveals counted against a daily limit, each view of an
image recorded before the image is read.

A reveal lets one analyst see one case's image un-blurred for ``reveal_window``. Every reveal,
refused reveal and image view is an audit record; a reveal and its record commit together.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from reporting import audit, models
from reporting.db import session_factory
from reporting.review.errors import CaseNotFound, ExposureLimitReached
from reporting.review.values import Exposure


class _OverLimit(Exception):
    def __init__(self, used: int) -> None:
        super().__init__(used)
        self.used = used


class ExposureLog:
    def __init__(self, engine: Engine, reveal_window: timedelta = timedelta(minutes=2)) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)
        self.reveal_window = reveal_window

    def today(self, actor: str, daily_limit: int, now: datetime | None = None) -> Exposure:
        """How many images ``actor`` has revealed today (``now``'s day), of ``daily_limit``."""
        day = (now or models.utcnow()).date().isoformat()
        with self._sessions() as session:
            used = session.scalar(
                select(func.count(models.EvidenceReveal.id)).where(
                    models.EvidenceReveal.actor == actor, models.EvidenceReveal.day == day
                )
            )
        return Exposure(int(used or 0), daily_limit)

    def reveal(self, match_id: int, actor: str, daily_limit: int) -> Exposure:
        """Allow ``actor`` to see the case's image un-blurred for ``reveal_window``; counted
        against the daily limit and recorded. Over the limit: ``ExposureLimitReached``, also
        recorded."""
        now = models.utcnow()
        day = now.date().isoformat()
        try:
            with self._sessions.begin() as session:
                if session.get(models.Match, match_id) is None:
                    raise CaseNotFound(f"no case {match_id}")
                # The audit append takes the log's lock first, so the count below is not raced.
                audit.record(
                    session,
                    actor,
                    "evidence.reveal",
                    f"match:{match_id}",
                    {"daily_limit": daily_limit},
                    at=now,
                )
                used = int(
                    session.scalar(
                        select(func.count(models.EvidenceReveal.id)).where(
                            models.EvidenceReveal.actor == actor, models.EvidenceReveal.day == day
                        )
                    )
                    or 0
                )
                if used >= daily_limit:
                    # Rolls back the reveal's record; the refusal is recorded below instead.
                    raise _OverLimit(used)
                session.add(
                    models.EvidenceReveal(
                        match_id=match_id,
                        actor=actor,
                        day=day,
                        revealed_at=now,
                        valid_until=now + self.reveal_window,
                    )
                )
                return Exposure(used + 1, daily_limit)
        except _OverLimit as over:
            used = over.used
        with self._sessions.begin() as session:
            audit.record(
                session,
                actor,
                "evidence.reveal_refused",
                f"match:{match_id}",
                {"daily_limit": daily_limit, "used": used},
            )
        raise ExposureLimitReached(
            f"you have revealed {used} images today, the limit is {daily_limit}; the image stays blurred"
        )

    def revealed(self, match_id: int, actor: str) -> bool:
        """Whether ``actor`` has a current reveal of this case's image."""
        with self._sessions() as session:
            found = session.scalar(
                select(models.EvidenceReveal.id)
                .where(
                    models.EvidenceReveal.match_id == match_id,
                    models.EvidenceReveal.actor == actor,
                    models.EvidenceReveal.valid_until > models.utcnow(),
                )
                .limit(1)
            )
        return found is not None

    def record_image_view(self, match_id: int, actor: str, original: bool) -> None:
        """Written (and committed) before the image is read, so no view goes unrecorded."""
        with self._sessions.begin() as session:
            audit.record(
                session,
                actor,
                "evidence.view_original" if original else "evidence.view_blurred",
                f"match:{match_id}",
                {},
            )
