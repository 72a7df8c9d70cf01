"""API tokens against real SQLite and PostgreSQL: format, storage, verification, revocation, caching."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from reporting import audit
from reporting.access.token_format import make_secret, parse_secret, parse_ttl
from reporting.access.tokens import TokenError, TokenStore
from reporting.models import utcnow
from reporting.store import Store
from scanner.auth import Principal, Unauthenticated
from scanner.rpc.interceptors.auth import bearer_token, peer_address, required_scopes
from tests.reporting.audit_fixtures import emptied_store, module_database

access_database = module_database()
store = emptied_store()


@contextmanager
def counting_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_secret_is_prefixed_and_checksummed() -> None:
    public_id, secret = make_secret()
    prefix, pid, random_part, check = secret.split("_")
    assert (prefix, pid) == ("hw", public_id)
    assert (len(pid), len(random_part), len(check)) == (8, 43, 6)
    assert parse_secret(secret) == public_id
    assert make_secret()[1] != secret
    for broken in (
        secret[:-1] + ("0" if secret[-1] != "0" else "1"),  # a typo in the checksum
        secret[:12] + ("x" if secret[12] != "x" else "y") + secret[13:],  # a typo in the body
        secret[:-3],  # a truncated paste
        "gh" + secret[2:],
        secret + "_",
        "",
    ):
        with pytest.raises(Unauthenticated) as raised:
            parse_secret(broken)
        assert not broken or broken not in str(raised.value)


def test_a_bad_checksum_is_refused_without_a_database_query(store: Store) -> None:
    tokens = TokenStore(store.engine)
    secret = tokens.create(["scan"], actor="test").secret
    mistyped = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    with counting_queries(store.engine) as statements:
        with pytest.raises(Unauthenticated, match="checksum"):
            tokens.authenticate(mistyped)
        with pytest.raises(Unauthenticated, match="checksum"):
            tokens.verify(mistyped)
    assert statements == []


def test_only_a_hash_of_the_secret_is_stored(store: Store) -> None:
    new = TokenStore(store.engine).create(["scan", "lists:read"], name="edge-1", actor="cli:ops")
    with store.engine.connect() as conn:
        rows = [tuple(str(v) for v in row) for row in conn.execute(text("SELECT * FROM api_tokens"))]
    [row] = rows
    random_part = new.secret.split("_")[2]
    assert not any(random_part in value for value in row)
    assert new.info.public_id in row
    assert new.info.scopes == ["lists:read", "scan"]


def test_verify_list_and_revoke(store: Store) -> None:
    tokens = TokenStore(store.engine)
    edge = tokens.create(["scan"], name="edge", ttl=timedelta(days=90), cidrs=["10.1.0.0/16"], actor="cli:a")
    auditor = tokens.create(["audit:read"], name="auditor", actor="cli:a")
    info = tokens.verify(edge.secret)
    assert (info.public_id, info.name, info.allowed_cidrs) == (edge.info.public_id, "edge", ["10.1.0.0/16"])
    assert info.expires_at is not None and info.expires_at - info.created_at == timedelta(days=90)
    assert [t.name for t in tokens.list()] == ["edge", "auditor"]

    assert tokens.revoke(edge.info.public_id, actor="cli:b", reason="rotated") is True
    assert tokens.revoke(edge.info.public_id, actor="cli:b") is False
    with pytest.raises(TokenError):
        tokens.revoke("nosuchid", actor="cli:b")
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.verify(edge.secret)
    with pytest.raises(Unauthenticated, match="revoked"):
        TokenStore(store.engine).authenticate(edge.secret)
    assert tokens.authenticate(auditor.secret).scopes == frozenset({"audit:read"})
    assert [t.name for t in tokens.list(include_revoked=False)] == ["auditor"]
    assert tokens.list()[0].status(utcnow()) == "revoked"

    actions = [
        (e.actor, e.action, e.subject) for e in reversed(audit.AuditLog(store.engine).entries(10).entries)
    ]
    assert actions == [
        ("cli:a", "token.create", f"token:{edge.info.public_id}"),
        ("cli:a", "token.create", f"token:{auditor.info.public_id}"),
        ("cli:b", "token.revoke", f"token:{edge.info.public_id}"),
    ]
    assert audit.verify(store.engine).ok


def test_the_wrong_secret_for_a_known_id_is_refused(store: Store) -> None:
    tokens = TokenStore(store.engine)
    new = tokens.create(["admin"], actor="test")
    _, forged = make_secret(public_id=new.info.public_id)
    with pytest.raises(Unauthenticated, match="unknown token"):
        tokens.authenticate(forged)
    # ... also once the real token is cached.
    tokens.authenticate(new.secret)
    with pytest.raises(Unauthenticated, match="unknown token"):
        tokens.authenticate(forged)
    with pytest.raises(Unauthenticated, match="unknown token"):
        tokens.authenticate(make_secret()[1])


def test_an_expired_token_is_refused(store: Store) -> None:
    tokens = TokenStore(store.engine)
    new = tokens.create(["scan"], ttl=timedelta(hours=1), actor="test")
    assert tokens.authenticate(new.secret).actor == f"token:{new.info.public_id}"
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET expires_at = :at"), {"at": utcnow() - timedelta(seconds=1)})
    with pytest.raises(Unauthenticated, match="expired"):
        TokenStore(store.engine).authenticate(new.secret)
    assert tokens.list()[0].status(utcnow()) == "expired"


def test_known_tokens_are_served_from_memory_and_revocation_lands_within_the_window(store: Store) -> None:
    tokens = TokenStore(store.engine, cache_seconds=0.5)
    server = TokenStore(store.engine, cache_seconds=0.5)
    new = tokens.create(["scan"], actor="test")
    server.authenticate(new.secret)
    with counting_queries(store.engine) as statements:
        for _ in range(50):
            assert server.authenticate(new.secret).scopes == frozenset({"scan"})
    assert statements == []

    tokens.revoke(new.info.public_id, actor="test")
    server.authenticate(new.secret)  # still cached: the documented window
    time.sleep(0.6)
    with pytest.raises(Unauthenticated, match="revoked"):
        server.authenticate(new.secret)


def _kinds(statements: list[str]) -> list[str]:
    return [statement.split(None, 1)[0].upper() for statement in statements]


def test_unknown_ids_cost_one_read_each_and_never_a_write(store: Store) -> None:
    tokens = TokenStore(store.engine)
    new = tokens.create(["scan"], actor="test")
    tokens.authenticate(new.secret)  # a use is pending or written: unknown ids must not write it
    unknown = [make_secret()[1] for _ in range(40)]
    with counting_queries(store.engine) as statements:
        for _ in range(3):
            for secret in unknown:
                with pytest.raises(Unauthenticated, match="unknown token"):
                    tokens.authenticate(secret)
        for _ in range(20):
            tokens.authenticate(new.secret)
    # One SELECT per distinct unknown id, the first time only; the known token from memory.
    assert _kinds(statements) == ["SELECT"] * len(unknown)


def test_a_flood_of_unknown_ids_never_pushes_a_real_token_out(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reporting.access.tokens as module

    monkeypatch.setattr(module, "_CACHE_LIMIT", 30)
    monkeypatch.setattr(module, "_UNKNOWN_LIMIT", 30, raising=False)
    tokens = TokenStore(store.engine, cache_seconds=60)
    new = tokens.create(["scan"], actor="test")
    tokens.authenticate(new.secret)
    flood = [make_secret()[1] for _ in range(100)]
    for secret in flood:
        with pytest.raises(Unauthenticated):
            tokens.authenticate(secret)
    with counting_queries(store.engine) as statements:
        tokens.authenticate(new.secret)
        with pytest.raises(Unauthenticated):
            tokens.authenticate(flood[-1])  # still remembered
    assert statements == []
    with counting_queries(store.engine) as statements, pytest.raises(Unauthenticated):
        tokens.authenticate(flood[0])  # the unknown cache is bounded: the oldest went
    assert _kinds(statements) == ["SELECT"]


def test_last_use_is_written_at_first_use_then_at_most_once_per_interval(store: Store) -> None:
    tokens = TokenStore(store.engine, cache_seconds=0.1)
    new = tokens.create(["scan"], actor="test")
    with counting_queries(store.engine) as statements:
        tokens.authenticate(new.secret)
    assert _kinds(statements).count("UPDATE") == 1
    first = tokens.list()[0].last_used_at
    assert first is not None and utcnow() - first < timedelta(minutes=1)

    # Refreshes every 0.1 s read the token again, but its use is not written again within 60 s.
    deadline = time.monotonic() + 0.5
    with counting_queries(store.engine) as statements:
        while time.monotonic() < deadline:
            tokens.authenticate(new.secret)
    assert "SELECT" in _kinds(statements) and "UPDATE" not in _kinds(statements)
    assert tokens.list()[0].last_used_at == first
    assert tokens.flush_last_used() == 1 and tokens.flush_last_used() == 0
    flushed = tokens.list()[0].last_used_at
    assert flushed is not None and flushed > first

    quick = TokenStore(store.engine, last_used_seconds=0.3)
    quick.authenticate(new.secret)
    with counting_queries(store.engine) as statements:
        for _ in range(5):
            quick.authenticate(new.secret)
        time.sleep(0.35)
        quick.authenticate(new.secret)
    assert _kinds(statements) == ["UPDATE"]


def test_scopes_and_addresses_are_validated(store: Store) -> None:
    tokens = TokenStore(store.engine)
    with pytest.raises(ValueError, match="unknown scope"):
        tokens.create(["scan", "root"], actor="test")
    with pytest.raises(ValueError, match="at least one scope"):
        tokens.create([], actor="test")
    with pytest.raises(ValueError, match="CIDR"):
        tokens.create(["scan"], cidrs=["10.0.0.0/33"], actor="test")
    assert tokens.list() == []


def test_scope_implications_and_addresses() -> None:
    admin = Principal("token:a", "a", frozenset({"admin"}))
    assert all(admin.allows({s}) for s in ("scan", "audit:read", "review:write", "lists:write"))
    writer = Principal("token:w", "w", frozenset({"review:write"}))
    assert writer.allows({"review:read"}) and not writer.allows({"audit:read"})
    reader = Principal("token:r", "r", frozenset({"review:read"}))
    assert not reader.allows({"review:write"})
    scan = Principal("token:s", "s", frozenset({"scan"}))
    assert not scan.allows({"review:read"}) and not scan.allows({"audit:read"})

    from scanner.auth import parse_networks

    fenced = Principal("token:f", "f", frozenset({"scan"}), parse_networks(["10.0.0.0/8", "2001:db8::/32"]))
    assert fenced.allows_address("10.2.3.4")
    assert fenced.allows_address("::ffff:10.2.3.4")
    assert fenced.allows_address("2001:db8::1")
    assert not fenced.allows_address("127.0.0.1")
    assert not fenced.allows_address("")
    assert scan.allows_address("203.0.113.1")


def test_the_method_table_fails_closed() -> None:
    assert required_scopes("/hashwatch.v1.Scanner/Scan") == frozenset({"scan"})
    assert required_scopes("/hashwatch.v1.Scanner/Blocks") == frozenset({"scan"})
    assert required_scopes("/hashwatch.v1.Audit/ListAuditLog") == frozenset({"audit:read"})
    assert required_scopes("/hashwatch.v1.Review/ListMatches") == frozenset({"review:read"})
    assert required_scopes("/hashwatch.v1.Review/RevealMatch") == frozenset({"review:write"})
    assert required_scopes("/hashwatch.v1.Review/GetMatch") == frozenset({"review:read"})
    assert required_scopes("/hashwatch.v1.Review/Decide") == frozenset({"review:write"})
    assert required_scopes("/hashwatch.v1.Lists/ImportList") == frozenset({"lists:write"})
    assert required_scopes("/hashwatch.v1.Scanner/Unknown") is None
    assert required_scopes("/hashwatch.v1.Review/") is None
    assert required_scopes("/other.Service/Scan") is None


def test_metadata_and_peer_parsing() -> None:
    assert bearer_token((("authorization", "Bearer hw_x"),)) == "hw_x"
    assert bearer_token((("Authorization", "bearer  hw_x "),)) == "hw_x"
    assert bearer_token((("authorization", "Basic abc"),)) == ""
    assert bearer_token((("x-other", "Bearer hw_x"),)) is None
    assert bearer_token(None) is None
    assert peer_address("ipv4:127.0.0.1:50123") == "127.0.0.1"
    assert peer_address("ipv6:[::1]:50123") == "::1"
    assert peer_address("ipv6:[fe80::1%eth0]:1") == "fe80::1"
    assert peer_address("unix:/tmp/sock") == ""


def test_ttl_parsing() -> None:
    assert parse_ttl("90d") == timedelta(days=90)
    assert parse_ttl("12h") == timedelta(hours=12)
    assert parse_ttl("2w") == timedelta(weeks=2)
    assert parse_ttl("3650d") == timedelta(days=3650)
    for bad in ("", "d", "0d", "-1d", "5y", "1.5h", "\u0669\u0660d", "3651d", "99999999999d"):
        with pytest.raises(ValueError):
            parse_ttl(bad)
