"""Reading and resolving blocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from reporting import audit, models
from reporting.db import session_factory
from reporting.matches.actions import fan_out, new_event

# Resolved blocks are kept this long, then purged.
RESOLVED_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class BlockView:
    id: int
    customer_id: str
    url: str
    state: str
    reason: str
    match_id: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class Blocks:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def all(
        self, customer_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[BlockView]:
        with self._sessions() as session:
            query = select(models.Block).order_by(models.Block.id.desc()).limit(limit)
            if customer_id is not None:
                query = query.where(models.Block.customer_id == customer_id)
            if state is not None:
                query = query.where(models.Block.state == state)
            return [
                BlockView(
                    b.id,
                    b.customer_id,
                    b.url,
                    b.state,
                    b.reason,
                    b.match_id,
                    b.created_at,
                    b.updated_at,
                    b.resolved_at,
                )
                for b in session.scalars(query)
            ]

    def resolve(self, block_id: int, reason: str, actor: str = "system") -> bool:
        """Lift a block (false positive, content removed) and tell the customer. Returns False
        when it was already resolved."""
        with self._sessions.begin() as session:
            block = session.get(models.Block, block_id)
            if block is None:
                raise LookupError(f"no block {block_id}")
            if block.state == "resolved":
                return False
            block.state, block.reason, block.resolved_at = "resolved", reason, models.utcnow()
            audit.record(
                session, actor, "block.resolve", f"block:{block.id}", {"url": block.url, "reason": reason}
            )
            event = new_event(
                session,
                "case_resolved",
                block.customer_id,
                block.match_id,
                {"url": block.url, "match_id": block.match_id, "block": "resolved", "reason": reason},
            )
            session.flush()
            fan_out(session, event)
            return True

    def purge_resolved(self, now: datetime | None = None) -> int:
        cutoff = (now or models.utcnow()) - RESOLVED_RETENTION
        with self._sessions.begin() as session:
            result = session.execute(
                delete(models.Block).where(
                    models.Block.state == "resolved", models.Block.resolved_at < cutoff
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
