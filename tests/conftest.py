"""Shared fixtures: real databases (SQLite always, PostgreSQL when available) and real servers."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from reporting.db import make_engine, migrate
from reporting.keys import ENV as KEY_ENV
from reporting.keys import LocalKey
from reporting.sealed import unlock
from reporting.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEMO_LIST = ROOT / "demo" / "list"
DEMO_UNLISTED = ROOT / "demo" / "unlisted"
DATA = ROOT / "tests" / "data"

# Servers built by tests hash in-process unless a test asks for worker processes
# (tests/scanner/test_pool_*.py): a pool per test would only cost start-up time.
os.environ.setdefault("HASHWATCH_HASH_WORKERS", "0")

# One local key (reporting.sealed) for the fixtures' databases and for every command and server
# the tests run, which open those databases too; tests of the key file itself unset it.
os.environ.setdefault(KEY_ENV, base64.b64encode(os.urandom(32)).decode())
TEST_SECRETS_KEY = LocalKey.from_setting(os.environ[KEY_ENV], Path("/nonexistent"))

# CI sets this to the PostgreSQL it starts; elsewhere the PostgreSQL tests skip, loudly.
POSTGRES_ENV = "HASHWATCH_TEST_POSTGRES_URL"
# CI sets this so that a missing PostgreSQL fails the run instead of skipping.
REQUIRE_ENV = "HASHWATCH_TEST_REQUIRE_SERVICES"


def _postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 forbids skipping")
    pytest.skip(f"SKIPPED LOUDLY: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hashwatch.db'}"
        return
    admin_url = _postgres_admin_url()
    if admin_url is None:
        _skip_or_fail(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    assert admin_url is not None
    name = f"hw_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _admin_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    engine = make_engine(database_url)
    migrate(engine)
    # As open_store does: TOTP and destination secrets are sealed with a local key.
    unlock(engine, TEST_SECRETS_KEY)
    yield Store(engine)
    engine.dispose()
