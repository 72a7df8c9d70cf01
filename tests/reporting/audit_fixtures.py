"""Shared fixtures for the access-control tests (tokens, accounts, audit, the secured server).

Creating and migrating a PostgreSQL database costs about two seconds, so these tests share one
database per module and backend and empty the access tables before each test, instead of using
``tests.conftest.store`` (a new database per test). No tests here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from reporting.audit import GENESIS
from reporting.db import make_engine, migrate
from reporting.sealed import unlock
from reporting.store import Store
from tests.conftest import (
    POSTGRES_ENV,
    TEST_SECRETS_KEY,
    _admin_engine,
    _postgres_admin_url,
    _skip_or_fail,
)

ACCESS_TABLES = ("analyst_recovery_codes", "analysts", "api_tokens", "audit_log")


def module_database() -> Callable[..., Any]:
    """A fixture: the URL of one migrated database of each kind, for the whole module."""

    @pytest.fixture(scope="module", params=["sqlite", "postgresql"])
    def access_database(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[str]:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hashwatch.db'}"
            _migrate(url)
            yield url
            return
        admin_url = _postgres_admin_url()
        if admin_url is None:
            _skip_or_fail(f"PostgreSQL tests need {POSTGRES_ENV}")
        assert admin_url is not None
        name = f"hw_{uuid.uuid4().hex[:12]}"
        admin = _admin_engine(admin_url)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.rsplit("/", 1)[0] + f"/{name}"
            _migrate(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    return access_database


def emptied_store() -> Callable[..., Any]:
    """A fixture: a ``Store`` on the module's database with the access tables emptied."""

    @pytest.fixture
    def store(access_database: str) -> Iterator[Store]:
        engine = make_engine(access_database)
        empty_access_tables(engine)
        unlock(engine, TEST_SECRETS_KEY)
        yield Store(engine)
        engine.dispose()

    return store


def empty_access_tables(engine: Any) -> None:
    with engine.begin() as conn:
        for table in ACCESS_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE audit_head SET last_id = 0, last_hash = :g, mac = NULL"), {"g": GENESIS})


def _migrate(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
