"""The Analytics service on a real gRPC server (port 0), SQLite and PostgreSQL: counts equal
what was scanned, a partner sees its own customers only, exports resume from a cursor."""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from PIL import Image

from reporting.access.tokens import TokenStore
from scanner.api.hashwatch.v1 import analytics_pb2 as apb
from scanner.api.hashwatch.v1 import analytics_pb2_grpc as apb_grpc
from scanner.api.hashwatch.v1 import customers_pb2 as cpb
from scanner.api.hashwatch.v1 import customers_pb2_grpc as cpb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.auth import ANALYTICS_READ, PARTNER, SCAN
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.conftest import import_demo_list

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
CAMERA = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
# A partner's customer ids are in its namespace (docs/customers.md).
PARTNER_CUSTOMERS = [f"p1:cust-{i:03d}" for i in range(500)]


def _small_png(seed: int) -> bytes:
    image = Image.new("RGB", (48, 48), (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    for x in range(0, 48, 6):
        image.putpixel((x, x), (255 - x, x, 128))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Served:
    app: App
    channel: grpc.Channel
    scanner: pb_grpc.ScannerStub
    analytics: apb_grpc.AnalyticsStub
    customers: cpb_grpc.CustomersStub
    tokens: dict[str, str]

    def provision(self, partner: str, customer_ids: Iterable[str]) -> None:
        """The partner creates its customers through the Customers API: that ownership is
        what decides whose analytics it may read."""
        for customer_id in customer_ids:
            request = cpb.CreateCustomerRequest(customer_id=customer_id)
            self.customers.CreateCustomer(request, timeout=30, metadata=self.auth(partner))

    def auth(self, who: str) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.tokens[who]}"),)

    def scan(self, customer: str, content: bytes, url: str = "") -> pb.ScanResponse:
        request = pb.ScanRequest(
            request_id=str(uuid.uuid4()),
            customer_id=customer,
            url=url or f"https://{customer}/x",
            content=content,
        )
        reply: pb.ScanResponse = self.scanner.Scan(request, timeout=60, metadata=self.auth("scan"))
        return reply

    def export(self, who: str, **fields: object) -> list[apb.DailyCounts]:
        request = apb.ExportDailyCountsRequest(from_day=_today(), **fields)  # type: ignore[arg-type]
        return list(self.analytics.ExportDailyCounts(request, timeout=60, metadata=self.auth(who)))


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    settings = load_settings(
        port=0, data_dir=tmp_path / "var", database_url=database_url, threads=4, require_auth=True
    )
    app = build_app(settings)
    import_demo_list(app)
    store = TokenStore(app.store.engine)
    tokens = {
        "scan": store.create([SCAN], name="edge").secret,
        "operator": store.create([ANALYTICS_READ], name="ops").secret,
        "p1": store.create([PARTNER], name="partner one", partner_id="p1").secret,
        "p2": store.create([PARTNER], name="partner two", partner_id="p2").secret,
    }
    app.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield Served(
            app,
            channel,
            pb_grpc.ScannerStub(channel),
            apb_grpc.AnalyticsStub(channel),
            cpb_grpc.CustomersStub(channel),
            tokens,
        )
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


def _outcome_name(value: int) -> str:
    return pb.Outcome.Name(value).removeprefix("OUTCOME_").lower()  # type: ignore[arg-type]


def _tally(replies: list[tuple[str, pb.ScanResponse]]) -> dict[str, Counter[str]]:
    """What the client saw, per customer: scans, by outcome, by verdict, matches."""
    seen: dict[str, Counter[str]] = {}
    for customer, reply in replies:
        tally = seen.setdefault(customer, Counter())
        tally["scans"] += 1
        tally[f"outcome:{_outcome_name(reply.outcome)}"] += 1
        tally["blocked" if reply.verdict == pb.VERDICT_BLOCK else "allowed"] += 1
        tally["matches"] += bool(reply.match_id)
    return seen


def _as_tally(row: apb.DailyCounts) -> Counter[str]:
    tally: Counter[str] = Counter(
        {
            "scans": row.scans,
            "allowed": row.scans_allowed,
            "blocked": row.scans_blocked,
            "matches": row.matches,
        }
    )
    for item in row.scans_by_outcome:
        tally[f"outcome:{_outcome_name(item.outcome)}"] += item.count
    return +tally


def test_scans_are_counted_exactly_once_flushed_and_the_no_match_path_waits_for_the_flush(
    served: Served,
) -> None:
    scans = [
        ("shop", ROCKET),
        ("shop", CAMERA),
        ("shop", _small_png(1)),
        ("shop", b""),
        ("shop", b"plain text, not an image"),
        ("blog", CAMERA),
    ]
    replies = [(customer, served.scan(customer, content)) for customer, content in scans]
    assert [r.verdict for _, r in replies].count(pb.VERDICT_BLOCK) == 1

    def day(customer: str) -> apb.DailyCounts:
        response = served.analytics.GetDailyCounts(
            apb.GetDailyCountsRequest(customer_id=customer), timeout=10, metadata=served.auth("operator")
        )
        [row] = response.days
        assert row.day == _today()
        return row

    # The match was counted with the match; no scan has reached the database yet.
    before = day("shop")
    assert (before.scans, before.matches, before.blocks) == (0, 1, 1)

    assert served.app.counts is not None
    assert served.app.counts.flush() == len(scans)
    expected = _tally(replies)
    assert _as_tally(day("shop")) == expected["shop"]
    assert _as_tally(day("blog")) == expected["blog"]
    outcomes = {k for k in expected["shop"] if k.startswith("outcome:")}
    assert outcomes >= {"outcome:scanned", "outcome:empty", "outcome:unsupported_format"}
    # Nothing is counted twice by a second flush.
    assert served.app.counts.flush() == 0
    assert _as_tally(day("shop")) == expected["shop"]


def test_a_partner_exports_a_day_of_500_customers_in_one_call_equal_to_what_was_scanned(
    served: Served,
) -> None:
    served.provision("p1", PARTNER_CUSTOMERS)
    contents = [b"", b"not an image", _small_png(2), _small_png(3)]
    requests: dict[str, str] = {}

    def stream() -> Iterator[pb.ScanRequest]:
        for i, customer in enumerate([*PARTNER_CUSTOMERS, "not-theirs"]):
            for k in range(i % 3 + 1):
                request_id = f"{customer}/{k}"
                requests[request_id] = customer
                content = ROCKET if i % 100 == 0 and k == 0 else contents[(i + k) % len(contents)]
                url = f"https://{customer}.example/{k}"
                yield pb.ScanRequest(request_id=request_id, customer_id=customer, url=url, content=content)

    responses = list(served.scanner.ScanStream(stream(), timeout=300, metadata=served.auth("scan")))
    replies = [(requests[r.request_id], r) for r in responses]
    assert len(replies) == len(requests) and len(replies) > 1000
    assert served.app.counts is not None
    served.app.counts.flush()
    expected = _tally(replies)

    rows = served.export("p1")
    assert [r.customer_id for r in rows] == PARTNER_CUSTOMERS
    assert {r.customer_id: _as_tally(r) for r in rows} == {c: expected[c] for c in PARTNER_CUSTOMERS}
    assert sum(r.scans for r in rows) == len(replies) - expected["not-theirs"]["scans"]
    assert sum(r.matches for r in rows) == 5
    assert len({r.cursor for r in rows}) == 500

    # An operator sees every customer; a partner with no customers sees none.
    assert [r.customer_id for r in served.export("operator")] == ["not-theirs", *PARTNER_CUSTOMERS]
    assert served.export("p2") == []

    # Interrupted after 123 rows, resumed from the last cursor: the rest, each row once.
    call = served.analytics.ExportDailyCounts(
        apb.ExportDailyCountsRequest(from_day=_today(), page_size=7), timeout=60, metadata=served.auth("p1")
    )
    first = [next(call) for _ in range(123)]
    call.cancel()
    rest = served.export("p1", cursor=first[-1].cursor, page_size=7)
    assert [r.customer_id for r in first + rest] == PARTNER_CUSTOMERS
    assert first + rest == rows


def test_a_customer_the_partner_may_not_see_is_not_found_and_bad_requests_are_invalid(
    served: Served,
) -> None:
    served.provision("p1", ["p1:cust-007", "p1:cust-008"])
    served.scan("not-theirs", CAMERA)
    served.scan("p1:cust-007", CAMERA)
    assert served.app.counts is not None
    served.app.counts.flush()

    def get(who: str, customer: str, **fields: str) -> apb.GetDailyCountsResponse:
        request = apb.GetDailyCountsRequest(customer_id=customer, **fields)
        response: apb.GetDailyCountsResponse = served.analytics.GetDailyCounts(
            request, timeout=10, metadata=served.auth(who)
        )
        return response

    assert [d.scans for d in get("p1", "p1:cust-007").days] == [1]
    assert get("p1", "p1:cust-008").days == []  # theirs, nothing counted
    for who, customer in [("p1", "not-theirs"), ("p1", "no-such-customer"), ("p2", "p1:cust-007")]:
        with pytest.raises(grpc.RpcError) as refused:
            get(who, customer)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND, (who, customer)
    assert [d.scans for d in get("operator", "not-theirs").days] == [1]

    with pytest.raises(grpc.RpcError) as no_scope:
        get("scan", "p1:cust-007")
    assert no_scope.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for fields in ({"from_day": "26/11/2026"}, {"from_day": "2026-11-26", "to_day": "2026-11-01"}):
        with pytest.raises(grpc.RpcError) as invalid:
            get("operator", "p1:cust-007", **fields)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as bad_cursor:
        served.export("p1", cursor="not-a-cursor")
    assert bad_cursor.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as no_day:
        list(served.analytics.ExportDailyCounts(apb.ExportDailyCountsRequest(), metadata=served.auth("p1")))
    assert no_day.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_cli_reads_a_partners_customers_from_the_server(served: Served) -> None:
    from typer.testing import CliRunner

    from scanner.cli.main import app

    served.provision("p1", ["p1:cust-001", "p1:cust-002"])
    served.scan("p1:cust-001", CAMERA)
    served.scan("p1:cust-002", b"")
    served.scan("not-theirs", CAMERA)
    assert served.app.counts is not None
    served.app.counts.flush()
    remote = ["--server", f"127.0.0.1:{served.app.server.port}", "--token", served.tokens["p1"]]
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "export", "--from", _today(), *remote])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["customer_id"], r["scans"], r["scans_by_outcome"]) for r in lines] == [
        ("p1:cust-001", 1, {"scanned": 1}),
        ("p1:cust-002", 1, {"empty": 1}),
    ]
    result = runner.invoke(app, ["analytics", "show", "--customer", "not-theirs", *remote])
    assert result.exit_code == 2
    assert "NOT_FOUND" in result.stderr
