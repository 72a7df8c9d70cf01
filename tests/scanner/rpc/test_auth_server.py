"""Scoped tokens enforced on a real gRPC server with --require-auth, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from reporting.access.tokens import TokenStore
from reporting.audit import AuditLog
from scanner.api.hashwatch.v1 import audit_pb2, audit_pb2_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App
from scanner.auth import Principal, StaticTokens, current_principal
from scanner.rpc.interceptors.auth import AuthInterceptor
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.reporting.audit_fixtures import empty_access_tables, module_database
from tests.scanner.serving import started_app

LIST_MATCHES = "/hashwatch.v1.Review/ListMatches"


@dataclass
class Secured:
    app: App
    channel: grpc.Channel
    scanner: pb_grpc.ScannerStub
    audit: audit_pb2_grpc.AuditStub
    tokens: TokenStore

    def token(self, *scopes: str, **options: object) -> str:
        return self.tokens.create(scopes, name="t", actor="test", **options).secret  # type: ignore[arg-type]


access_database = module_database()


@pytest.fixture(scope="module")
def secured_app(access_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One server per module and database: starting one costs more than the tests it serves."""
    with started_app(
        tmp_path_factory.mktemp("var"), database_url=access_database, threads=2, require_auth=True
    ) as app:
        yield app


@pytest.fixture
def secured(secured_app: App) -> Iterator[Secured]:
    empty_access_tables(secured_app.store.engine)
    channel = grpc.insecure_channel(f"127.0.0.1:{secured_app.server.port}")
    try:
        yield Secured(
            secured_app,
            channel,
            pb_grpc.ScannerStub(channel),
            audit_pb2_grpc.AuditStub(channel),
            TokenStore(secured_app.store.engine),
        )
    finally:
        channel.close()


def bearer(secret: str) -> tuple[tuple[str, str | bytes], ...]:
    return (("authorization", f"Bearer {secret}"),)


def scan_request() -> pb.ScanRequest:
    return pb.ScanRequest(request_id="r", content=(DEMO_LIST / "skimage_rocket.jpg").read_bytes())


def list_matches(secured: Secured, secret: str | None) -> grpc.RpcError:
    """``Review/ListMatches`` with an empty request, through a generic client: the method table
    decides whether a Review servicer is registered or not."""
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = secured.channel.unary_unary(LIST_MATCHES)
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", metadata=bearer(secret) if secret else None, timeout=10)
    return raised.value


def passes_the_table(secured: Secured, method: str, secret: str) -> bool:
    """True when the call got past authentication and authorisation (whatever happened next:
    UNIMPLEMENTED before a servicer exists, an answer or a request error after)."""
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = secured.channel.unary_unary(method)
    try:
        call(b"", metadata=bearer(secret), timeout=10)
    except grpc.RpcError as exc:
        return exc.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    return True


def test_no_token_is_unauthenticated_but_health_stays_open(secured: Secured) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        secured.scanner.Scan(scan_request(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Bearer" in (raised.value.details() or "")
    assert list_matches(secured, None).code() == grpc.StatusCode.UNAUTHENTICATED
    reply = health_pb2_grpc.HealthStub(secured.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_bad_token_is_unauthenticated_and_never_echoed(secured: Secured) -> None:
    good = secured.token("scan")
    for secret in (good[:-1] + ("A" if good[-1] != "A" else "B"), good[:20], "hunter2"):
        with pytest.raises(grpc.RpcError) as raised:
            secured.scanner.Scan(scan_request(), metadata=bearer(secret), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert secret not in (raised.value.details() or "")
    with pytest.raises(grpc.RpcError) as raised:
        secured.scanner.Scan(scan_request(), metadata=(("authorization", good),), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert good not in (raised.value.details() or "")


def test_a_scan_token_scans_and_nothing_else(secured: Secured) -> None:
    secret = secured.token("scan")
    reply = secured.scanner.Scan(scan_request(), metadata=bearer(secret), timeout=30)
    assert reply.verdict == pb.VERDICT_BLOCK
    streamed = list(secured.scanner.ScanStream(iter([scan_request()]), metadata=bearer(secret), timeout=30))
    assert [r.verdict for r in streamed] == [pb.VERDICT_BLOCK]
    blocks = secured.scanner.Blocks(
        pb.BlocksRequest(customer_id="c", urls=["https://x.example/"]), metadata=bearer(secret), timeout=10
    )
    assert len(blocks.blocks) == 1

    denied = list_matches(secured, secret)
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "review:read" in (denied.details() or "")
    with pytest.raises(grpc.RpcError) as raised:
        secured.audit.ListAuditLog(audit_pb2.ListAuditLogRequest(), metadata=bearer(secret), timeout=10)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_review_and_admin_tokens_pass_the_table(secured: Secured) -> None:
    for scopes in (("review:read",), ("review:write",), ("admin",)):
        assert passes_the_table(secured, LIST_MATCHES, secured.token(*scopes)), scopes
    # Past the table, a method nobody implements is UNIMPLEMENTED, not PERMISSION_DENIED.
    nothing: grpc.UnaryUnaryMultiCallable[bytes, bytes] = secured.channel.unary_unary(
        "/hashwatch.v1.Review/ListNothing"
    )
    with pytest.raises(grpc.RpcError) as raised:
        nothing(b"", metadata=bearer(secured.token("review:read")), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # A Review method that is not a read needs review:write.
    decide: grpc.UnaryUnaryMultiCallable[bytes, bytes] = secured.channel.unary_unary(
        "/hashwatch.v1.Review/Decide"
    )
    with pytest.raises(grpc.RpcError) as raised:
        decide(b"", metadata=bearer(secured.token("review:read")), timeout=10)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_method_in_no_table_is_denied_even_to_admin(secured: Secured) -> None:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = secured.channel.unary_unary(
        "/hashwatch.v1.Secret/Everything"
    )
    with pytest.raises(grpc.RpcError) as raised:
        call(b"", metadata=bearer(secured.token("admin")), timeout=10)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_audit_token_reads_the_audit_log_and_nothing_else(secured: Secured) -> None:
    secret = secured.token("audit:read")
    AuditLog(secured.app.store.engine).append("cli:ops", "list.import", "list:demo", {"added": 3})
    reply = secured.audit.ListAuditLog(
        audit_pb2.ListAuditLogRequest(page_size=1), metadata=bearer(secret), timeout=10
    )
    [newest] = reply.records
    assert (newest.actor, newest.action, newest.subject) == ("cli:ops", "list.import", "list:demo")
    assert newest.details_json == '{"added": 3}'
    assert reply.next_page_token
    older = secured.audit.ListAuditLog(
        audit_pb2.ListAuditLogRequest(page_size=100, page_token=reply.next_page_token),
        metadata=bearer(secret),
        timeout=10,
    )
    assert [r.action for r in older.records] == ["token.create"]
    assert older.records[0].id == newest.id - 1
    assert not older.next_page_token

    with pytest.raises(grpc.RpcError) as raised:
        secured.scanner.Scan(scan_request(), metadata=bearer(secret), timeout=10)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert list_matches(secured, secret).code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_token_is_refused_outside_its_addresses(secured: Secured) -> None:
    elsewhere = secured.token("scan", cidrs=["10.0.0.0/8"])
    with pytest.raises(grpc.RpcError) as raised:
        secured.scanner.Scan(scan_request(), metadata=bearer(elsewhere), timeout=10)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "127.0.0.1" in (raised.value.details() or "")
    here = secured.token("scan", cidrs=["127.0.0.0/8", "::1/128"])
    unlisted = pb.ScanRequest(request_id="u", content=(DEMO_UNLISTED / "skimage_camera.png").read_bytes())
    assert secured.scanner.Scan(unlisted, metadata=bearer(here), timeout=30).verdict == pb.VERDICT_ALLOW


def test_an_expired_token_is_unauthenticated(secured: Secured) -> None:
    secret = secured.token("scan", ttl=timedelta(seconds=1))
    time.sleep(1.1)
    with pytest.raises(grpc.RpcError) as raised:
        secured.scanner.Scan(scan_request(), metadata=bearer(secret), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (raised.value.details() or "")


def test_streams_are_refused_before_any_message_is_read(secured: Secured) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        list(secured.scanner.ScanStream(iter([scan_request()]), timeout=10))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    auditor = secured.token("audit:read")
    with pytest.raises(grpc.RpcError) as raised:
        list(secured.scanner.ScanStream(iter([scan_request()]), metadata=bearer(auditor), timeout=10))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_handlers_see_the_caller_without_any_database() -> None:
    """The interceptor over a bare gRPC server and ``StaticTokens``: the scanner side alone."""
    edge = Principal("token:edge", "edge", frozenset({"scan"}))

    def whoami(_request: bytes, _context: grpc.ServicerContext) -> bytes:
        principal = current_principal()
        return principal.actor.encode() if principal else b"nobody"

    def whoami_stream(_request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
        for _ in range(2):
            yield whoami(_request, _context)

    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Hash": grpc.unary_unary_rpc_method_handler(whoami),
        "Scan": grpc.unary_stream_rpc_method_handler(whoami_stream),
    }
    server = grpc.server(
        ThreadPoolExecutor(max_workers=2),
        interceptors=[AuthInterceptor(StaticTokens({"s3cret-edge": edge}))],
    )
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("hashwatch.v1.Scanner", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            unary: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/hashwatch.v1.Scanner/Hash"
            )
            assert unary(b"", metadata=bearer("s3cret-edge"), timeout=10) == b"token:edge"
            stream: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(
                "/hashwatch.v1.Scanner/Scan"
            )
            assert list(stream(b"", metadata=bearer("s3cret-edge"), timeout=10)) == [b"token:edge"] * 2
            with pytest.raises(grpc.RpcError) as raised:
                unary(b"", metadata=bearer("s3cret-other"), timeout=10)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert current_principal() is None
    finally:
        server.stop(None).wait()
