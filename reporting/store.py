"""The database behind lists and matches (SQLite or PostgreSQL, through SQLAlchemy), as one object.

Each half lives with its aggregate: ``reporting.lists.store`` (creating lists, importing, their
policy, listing, what the matcher is built from) and ``reporting.matches.record`` (recording a
match and what it sets in motion, block status, listing matches). ``Store`` composes the two
because the composition root, every CLI command, the web page and the rescans hand one
database object around (``Store(engine, ActionConfig(...))``); it adds nothing of its own. Code
that needs only one half may take that half.
"""

from __future__ import annotations

from sqlalchemy import Engine

from reporting.lists.store import ImportResult, ListInfo, ListStore, NewEntry
from reporting.matches.record import ActionConfig, HitView, MatchStore, MatchView

__all__ = ["ActionConfig", "HitView", "ImportResult", "ListInfo", "MatchView", "NewEntry", "Store"]


class Store(ListStore, MatchStore):
    def __init__(self, engine: Engine, actions: ActionConfig | None = None) -> None:
        ListStore.__init__(self, engine)
        MatchStore.__init__(self, engine, actions)
