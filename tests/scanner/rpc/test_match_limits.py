"""``Match`` is bounded: at most HASHWATCH_MAX_MATCH_HASHES hashes per request (more is refused
INVALID_ARGUMENT at once, whatever the size), and requests are rate-limited per caller like
scans per customer. A real server on port 0 and a real SQLite database."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from reporting.access.tokens import TokenStore
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from tests.scanner.serving import bad_fields, has_ipv6_loopback, retry_delay, started_app

BIG = 64 * 1024 * 1024


def stub(target: str) -> pb_grpc.ScannerStub:
    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", BIG)])
    return pb_grpc.ScannerStub(channel)


def pdq_hashes(count: int) -> pb.MatchRequest:
    return pb.MatchRequest(
        hashes=[pb.Hash(algorithm=pb.ALGORITHM_PDQ, hex=f"{n:064x}") for n in range(count)]
    )


def test_a_match_of_440000_hashes_is_refused_at_once_and_the_cap_itself_is_answered(tmp_path: Path) -> None:
    with started_app(tmp_path / "var") as app:
        scanner = stub(f"127.0.0.1:{app.server.port}")
        huge = pdq_hashes(440_000)
        assert huge.ByteSize() > 30_000_000
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as raised:
            scanner.Match(huge, timeout=30)
        elapsed = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 1000 hashes" in (raised.value.details() or "")
        assert bad_fields(raised.value) == ["hashes"]
        # The transfer and parse of 32 MB included; the old server worked 6 s on it.
        assert elapsed < 1.0, f"{elapsed:.2f} s"
        assert list(scanner.Match(pdq_hashes(1000), timeout=30).matches) == []


def test_the_cap_is_a_setting(tmp_path: Path) -> None:
    with started_app(tmp_path / "var", max_match_hashes=3) as app:
        scanner = stub(f"127.0.0.1:{app.server.port}")
        assert list(scanner.Match(pdq_hashes(3), timeout=10).matches) == []
        with pytest.raises(grpc.RpcError) as raised:
            scanner.Match(pdq_hashes(4), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _spend(scanner: pb_grpc.ScannerStub, allowed: int, metadata: tuple[tuple[str, str], ...] = ()) -> None:
    """``allowed`` requests pass, the next is refused with the time until a token is back."""
    for _ in range(allowed):
        scanner.Match(pdq_hashes(1), metadata=metadata, timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        scanner.Match(pdq_hashes(1), metadata=metadata, timeout=10)
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Match requests per second" in (raised.value.details() or "")
    assert 0 < retry_delay(raised.value) <= 100


@pytest.mark.skipif(not has_ipv6_loopback(), reason="SKIPPED LOUDLY: this machine has no ::1")
def test_match_is_rate_limited_per_address_without_tokens(tmp_path: Path) -> None:
    # 0.01 per second: no token comes back while the test runs, so the counts are exact.
    with started_app(tmp_path / "var", host="::", rate_limit_per_second=0.01, rate_limit_burst=3) as app:
        port = app.server.port
        _spend(stub(f"127.0.0.1:{port}"), 3)
        # Another address has a budget of its own; a big request costs the same one token.
        _spend(stub(f"[::1]:{port}"), 3)
        with pytest.raises(grpc.RpcError) as raised:
            stub(f"127.0.0.1:{port}").Match(pdq_hashes(1000), timeout=10)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_match_is_rate_limited_per_token_with_tokens(tmp_path: Path) -> None:
    with started_app(
        tmp_path / "var", require_auth=True, rate_limit_per_second=0.01, rate_limit_burst=2
    ) as app:
        tokens = TokenStore(app.store.engine)
        first, second = (tokens.create(["scan"], name=n, actor="test").secret for n in ("a", "b"))
        scanner = stub(f"127.0.0.1:{app.server.port}")
        _spend(scanner, 2, (("authorization", f"Bearer {first}"),))
        _spend(scanner, 2, (("authorization", f"Bearer {second}"),))
        # Scans are counted per customer, apart from Match.
        reply = scanner.Scan(
            pb.ScanRequest(request_id="s", customer_id="c", content=b"x"),
            metadata=(("authorization", f"Bearer {first}"),),
            timeout=10,
        )
        assert reply.outcome == pb.OUTCOME_UNSUPPORTED_FORMAT
