"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

# The standard library's logger, not structlog's: commands that do not configure logging (whose
# stdout may be JSON for a script) still print its warnings, on stderr; ``hashwatch serve``
# renders them as JSON lines like its own (``scanner.logs``).
log = logging.getLogger(__name__)


def private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700), or make an existing one private: the data directory holds
    the database, the keys, the journal's sealed matches and the index snapshots."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _make_private(path, 0o700)


def _make_private(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & 0o077:
        try:
            os.chmod(path, mode)
        except PermissionError:  # not ours to change: say so, and go on as before
            log.warning("%s is open to other users (%o) and not ours to make private", path, current)
            return
        log.warning("%s was open to other users (%o); made it private (%o)", path, current, mode)


def _private_sqlite_file(path: Path) -> None:
    """The database file exists with mode 0600 before SQLite opens it; SQLite gives its -wal,
    -shm and -journal files the database file's mode. One left readable by an earlier version
    is tightened, with its side files."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for each in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        if each.exists():
            _make_private(each, 0o600)


def make_engine(url: str) -> Engine:
    """``hide_parameters``: a failed statement's message (which ends up in logs and error
    replies) names its SQL but never the values bound to it (secrets, evidence, hashes)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the CLI) run while the service writes; FULL sync makes a committed
    # match survive power loss, which is the promise made before answering BLOCK.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest migrations (a no-op when it is already there).

    "heads", not "head": independent features add migrations that branch from the same parent
    (each names only the revision it needs), and all of them are applied."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
