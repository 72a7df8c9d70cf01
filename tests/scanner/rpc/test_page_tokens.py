"""Page tokens and cursors a client made up are INVALID_ARGUMENT naming the field, on every paged
RPC, never INTERNAL: 20 digits (past a 64-bit id), 5 000 digits (past Python's int() limit), digits
that are not ASCII, signs, and cursors that decode to something the database cannot compare. A
real server with --require-auth on SQLite and PostgreSQL, a real admin token, real clients."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from reporting.access.tokens import TokenStore
from scanner.api.hashwatch.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
)
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from tests.conftest import DEMO_LIST
from tests.reporting.audit_fixtures import module_database
from tests.scanner.serving import bad_fields, started_app

paging_database = module_database()


@dataclass
class Paged:
    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def paged(paging_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paged]:
    with (
        started_app(tmp_path_factory.mktemp("var"), database_url=paging_database, require_auth=True) as app,
        grpc.insecure_channel(f"127.0.0.1:{app.server.port}") as channel,
    ):
        secret = TokenStore(app.store.engine).create(["admin"], name="pages", actor="test").secret
        metadata = (("authorization", f"Bearer {secret}"),)
        # Something on every list: two matches to review (and audit records), two customers.
        for n in range(2):
            request = pb.ScanRequest(
                request_id=str(n),
                customer_id=f"c{n}",
                content=(DEMO_LIST / "skimage_rocket.jpg").read_bytes(),
            )
            assert pb_grpc.ScannerStub(channel).Scan(request, metadata=metadata, timeout=30).match_id
            customers_pb2_grpc.CustomersStub(channel).CreateCustomer(
                customers_pb2.CreateCustomerRequest(customer_id=f"c{n}", name=f"C{n}"),
                metadata=metadata,
                timeout=10,
            )
        yield Paged(channel, metadata)


def _cursor(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


NUMERIC_TOKENS = {
    "20-digits": "1" * 20,
    "int64-plus-one": str(2**63),
    "5000-digits": "9" * 5000,
    "superscript": "\u00b2",
    "arabic-indic": "\u0661\u0662",
    "negative": "-1",
    "plus": "+5",
    "spaces": " 5",
    "letters": "abc",
}
REVIEW_TOKENS = {
    **{name: f"0.{token}" for name, token in NUMERIC_TOKENS.items()},
    "priority-20-digits": "1" * 20 + ".1",
    "three-parts": "1.2.3",
    "one-part": "5",
    "empty-part": "1.",
}
CURSORS = {
    "5000-digits": "9" * 5000,
    "not-base64": "***",
    "nested": base64.urlsafe_b64encode(b"[" * 100_000).decode(),
    "nul-customer": _cursor({"v": 1, "day": "2024-01-01", "customer": "a\u0000b"}),
    "long-customer": _cursor({"v": 1, "day": "2024-01-01", "customer": "x" * 5000}),
    "number-day": _cursor({"v": 1, "day": 20240101, "customer": "a"}),
    "list": _cursor([1, 2]),
}


def _refused(call: Callable[[], Any], field: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert field in (error.details() or "")
    assert bad_fields(error) == [field]


def _pages(next_token: Callable[[str], str]) -> int:
    """How many pages a walk with page size 1 takes (the tokens given out are taken back)."""
    token, pages = next_token(""), 1
    while token:
        token, pages = next_token(token), pages + 1
    return pages


@pytest.mark.parametrize("token", NUMERIC_TOKENS.values(), ids=NUMERIC_TOKENS.keys())
def test_list_customers(paged: Paged, token: str) -> None:
    stub = customers_pb2_grpc.CustomersStub(paged.channel)

    def page(token: str) -> str:
        request = customers_pb2.ListCustomersRequest(page_size=1, page_token=token)
        reply = stub.ListCustomers(request, metadata=paged.metadata, timeout=10)
        return str(reply.next_page_token)

    _refused(lambda: page(token), "page_token")
    assert _pages(page) >= 2


@pytest.mark.parametrize("token", REVIEW_TOKENS.values(), ids=REVIEW_TOKENS.keys())
def test_list_matches(paged: Paged, token: str) -> None:
    stub = review_pb2_grpc.ReviewStub(paged.channel)

    def page(token: str) -> str:
        request = review_pb2.ListMatchesRequest(state="all", page_size=1, page_token=token)
        return str(stub.ListMatches(request, metadata=paged.metadata, timeout=10).next_page_token)

    _refused(lambda: page(token), "page_token")
    assert _pages(page) >= 2


@pytest.mark.parametrize("token", [*NUMERIC_TOKENS.values(), "0"], ids=[*NUMERIC_TOKENS.keys(), "zero"])
def test_list_audit_log(paged: Paged, token: str) -> None:
    stub = audit_pb2_grpc.AuditStub(paged.channel)

    def page(token: str) -> str:
        request = audit_pb2.ListAuditLogRequest(page_size=1, page_token=token)
        return str(stub.ListAuditLog(request, metadata=paged.metadata, timeout=10).next_page_token)

    _refused(lambda: page(token), "page_token")
    assert _pages(page) >= 2


@pytest.mark.parametrize("cursor", CURSORS.values(), ids=CURSORS.keys())
def test_export_daily_counts(paged: Paged, cursor: str) -> None:
    stub = analytics_pb2_grpc.AnalyticsStub(paged.channel)
    request = analytics_pb2.ExportDailyCountsRequest(
        from_day="2024-01-01", to_day="2024-01-02", cursor=cursor
    )
    _refused(lambda: list(stub.ExportDailyCounts(request, metadata=paged.metadata, timeout=10)), "cursor")
    good = analytics_pb2.ExportDailyCountsRequest(
        from_day="2024-01-01", cursor=_cursor({"v": 1, "day": "2024-01-01", "customer": "c0"})
    )
    assert list(stub.ExportDailyCounts(good, metadata=paged.metadata, timeout=10)) == []
