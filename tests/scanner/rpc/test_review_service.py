"""``hashwatch.v1.Review`` on a real server with --require-auth, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from reporting.access.tokens import TokenStore
from reporting.audit import AuditLog
from scanner.api.hashwatch.v1 import review_pb2 as rpb
from scanner.api.hashwatch.v1 import review_pb2_grpc as rpb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()


@dataclass
class Served:
    app: App
    channel: grpc.Channel
    scanner: pb_grpc.ScannerStub
    review: rpb_grpc.ReviewStub
    tokens: TokenStore

    def auth(self, *scopes: str, customer: str | None = None) -> tuple[tuple[str, str | bytes], ...]:
        secret = self.tokens.create(scopes, name="-".join(scopes), actor="test", customer_id=customer).secret
        return (("authorization", f"Bearer {secret}"),)

    def scan(
        self, url: str, token: tuple[tuple[str, str | bytes], ...], customer: str = "shop-1"
    ) -> pb.ScanResponse:
        request = pb.ScanRequest(request_id="r", customer_id=customer, url=url, content=ROCKET)
        response: pb.ScanResponse = self.scanner.Scan(request, metadata=token, timeout=30)
        return response


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    settings = load_settings(
        port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2, require_auth=True
    )
    app = build_app(settings)
    import_demo_list(app)
    app.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield Served(
            app,
            channel,
            pb_grpc.ScannerStub(channel),
            rpb_grpc.ReviewStub(channel),
            TokenStore(app.store.engine),
        )
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


def test_list_get_decide_and_the_running_matcher_drops_the_flagged_entry(served: Served) -> None:
    scan = served.auth("scan")
    reader, analyst = served.auth("review:read"), served.auth("review:write")
    first = served.scan("https://shop.example/rocket.jpg", scan)
    assert first.verdict == pb.VERDICT_BLOCK

    page = served.review.ListMatches(rpb.ListMatchesRequest(), metadata=reader, timeout=10)
    [summary] = page.cases
    assert (summary.match_id, summary.customer_id, summary.url, summary.state) == (
        first.match_id,
        "shop-1",
        "https://shop.example/rocket.jpg",
        rpb.CASE_STATE_OPEN,
    )
    assert list(summary.lists) == ["demo"] and summary.algorithm

    case = served.review.GetMatch(rpb.GetMatchRequest(match_id=first.match_id), metadata=reader, timeout=10)
    assert case.block_state == "active" and case.evidence_available and case.hashes["pdq"]
    assert {h.list_name for h in case.hits} == {"demo"}
    assert all(h.external_id and h.entry_status == "active" for h in case.hits)
    # The image is never part of the API.
    assert not any(f.type == f.TYPE_BYTES for f in rpb.Case.DESCRIPTOR.fields)

    with pytest.raises(grpc.RpcError) as denied:
        served.review.Decide(
            rpb.DecideRequest(match_id=first.match_id, decision=rpb.DECISION_FALSE_POSITIVE),
            metadata=reader,
            timeout=10,
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    decided = served.review.Decide(
        rpb.DecideRequest(match_id=first.match_id, decision=rpb.DECISION_FALSE_POSITIVE, note="a rocket"),
        metadata=analyst,
        timeout=30,
    )
    assert decided.state == rpb.CASE_STATE_FALSE_POSITIVE and decided.block_resolved
    assert decided.flagged_entry_ids

    # The running server rebuilt its matcher: the same image is no longer blocked.
    again = served.scan("https://shop.example/rocket-2.jpg", scan)
    assert again.verdict == pb.VERDICT_ALLOW

    with pytest.raises(grpc.RpcError) as twice:
        served.review.Decide(
            rpb.DecideRequest(match_id=first.match_id, decision=rpb.DECISION_CONFIRM),
            metadata=analyst,
            timeout=10,
        )
    assert twice.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only an admin" in (twice.value.details() or "")

    overridden = served.review.Decide(
        rpb.DecideRequest(match_id=first.match_id, decision=rpb.DECISION_CONFIRM),
        metadata=served.auth("admin"),
        timeout=30,
    )
    assert overridden.override and overridden.restored_entry_ids
    assert served.scan("https://shop.example/rocket-3.jpg", scan).verdict == pb.VERDICT_BLOCK

    actors = [(e.action, e.actor) for e in AuditLog(served.app.store.engine).entries(100).entries]
    actions = [a for a, _ in actors]
    assert {"case.view", "case.false_positive", "case.confirm"} <= set(actions)
    assert all(actor.startswith("token:") for action, actor in actors if action.startswith("case."))


def test_request_review_and_bad_requests(served: Served) -> None:
    writer = served.auth("review:write")
    match_id = served.scan("https://shop.example/rocket.jpg", served.auth("scan")).match_id

    info = served.review.RequestReview(
        rpb.RequestReviewRequest(
            customer_id="shop-1",
            url="https://shop.example/rocket.jpg",
            attestation=rpb.ATTESTATION_REMOVED,
            statement="We took it down.",
        ),
        metadata=writer,
        timeout=10,
    )
    assert (info.match_id, info.state, info.attestation) == (match_id, "open", rpb.ATTESTATION_REMOVED)
    appealed = served.review.ListMatches(
        rpb.ListMatchesRequest(state="appealed"), metadata=writer, timeout=10
    )
    assert [c.open_review_requests for c in appealed.cases] == [1]

    def code(call: object, request: object) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as raised:
            call(request, metadata=writer, timeout=10)  # type: ignore[operator]
        result: grpc.StatusCode = raised.value.code()
        return result

    assert code(served.review.GetMatch, rpb.GetMatchRequest(match_id=999)) == grpc.StatusCode.NOT_FOUND
    assert (
        code(served.review.Decide, rpb.DecideRequest(match_id=match_id)) == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        code(served.review.ListMatches, rpb.ListMatchesRequest(state="nope"))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    other = rpb.RequestReviewRequest(
        customer_id="someone-else", match_id=match_id, attestation=rpb.ATTESTATION_REMOVED, statement="x"
    )
    assert code(served.review.RequestReview, other) == grpc.StatusCode.NOT_FOUND


def test_a_decision_taken_elsewhere_reaches_the_server_on_its_next_list_poll(served: Served) -> None:
    from reporting.review.decisions import Decisions
    from reporting.review.values import Reviewer

    scan = served.auth("scan")
    match_id = served.scan("https://shop.example/rocket.jpg", scan).match_id
    # As the CLI or a separate `hashwatch web` would: other Decisions on the same database.
    Decisions(served.app.store.engine).decide(match_id, "false_positive", Reviewer("cli:ops"))
    assert served.scan("https://shop.example/rocket-2.jpg", scan).verdict == pb.VERDICT_BLOCK
    _, removed = served.app.sync_lists()  # what the list watcher of `serve` runs every poll
    assert removed > 0
    assert served.scan("https://shop.example/rocket-3.jpg", scan).verdict == pb.VERDICT_ALLOW


def _refused(call: object, request: object, token: tuple[tuple[str, str | bytes], ...]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=token, timeout=10)  # type: ignore[operator]
    return raised.value


def test_a_customer_token_appeals_its_own_cases_only_and_never_decides(served: Served) -> None:
    scan = served.auth("scan")
    own = served.scan("https://shop.example/rocket.jpg", scan).match_id
    other_url = "https://other.example/rocket.jpg"
    others = served.scan(other_url, scan, customer="shop-2").match_id
    portal = served.auth("customer:appeal", customer="shop-1")

    def appeal(customer_id: str = "", match_id: int = 0, url: str = "") -> rpb.RequestReviewRequest:
        return rpb.RequestReviewRequest(
            customer_id=customer_id,
            match_id=match_id,
            url=url,
            attestation=rpb.ATTESTATION_NOT_AS_LISTED,
            statement="This is a photo of a rocket.",
        )

    info = served.review.RequestReview(appeal(match_id=own), metadata=portal, timeout=10)
    assert (info.match_id, info.customer_id, info.state) == (own, "shop-1", "open")
    assert info.requested_by.startswith("token:")
    # Naming its own customer, or its blocked URL, works the same.
    served.review.RequestReview(
        appeal(customer_id="shop-1", url="https://shop.example/rocket.jpg"), metadata=portal, timeout=10
    )

    # Another customer's case reads exactly like one that does not exist.
    missing = 10**9
    absent = _refused(served.review.RequestReview, appeal(match_id=missing), portal)
    assert absent.code() == grpc.StatusCode.NOT_FOUND
    for request, claimed in (
        (appeal(match_id=others), "shop-1"),
        (appeal(customer_id="shop-2", match_id=others), "shop-2"),
        (appeal(customer_id="shop-2", url=other_url), "shop-2"),
    ):
        refused = _refused(served.review.RequestReview, request, portal)
        assert refused.code() == grpc.StatusCode.NOT_FOUND, request
        what = str(others) if request.match_id else repr(other_url)
        expected = (absent.details() or "").replace(str(missing), what).replace("shop-1", claimed)
        assert refused.details() == expected

    # It never decides, reads the queue or scans.
    decide = rpb.DecideRequest(match_id=others, decision=rpb.DECISION_FALSE_POSITIVE)
    assert _refused(served.review.Decide, decide, portal).code() == grpc.StatusCode.PERMISSION_DENIED
    own_decision = rpb.DecideRequest(match_id=own, decision=rpb.DECISION_FALSE_POSITIVE)
    assert _refused(served.review.Decide, own_decision, portal).code() == grpc.StatusCode.PERMISSION_DENIED
    calls: list[tuple[object, object]] = [
        (served.review.ListMatches, rpb.ListMatchesRequest()),
        (served.review.GetMatch, rpb.GetMatchRequest(match_id=own)),
        (served.scanner.Scan, pb.ScanRequest(request_id="r", customer_id="shop-1", content=ROCKET)),
    ]
    for call, other_request in calls:
        assert _refused(call, other_request, portal).code() == grpc.StatusCode.PERMISSION_DENIED

    analyst = served.auth("review:write")
    shop2 = served.review.GetMatch(rpb.GetMatchRequest(match_id=others), metadata=analyst, timeout=10)
    assert (shop2.state, list(shop2.review_requests), shop2.block_state) == (
        rpb.CASE_STATE_OPEN,
        [],
        "active",
    )
    # An analyst still files for a customer (say, one who called in) and decides.
    filed = served.review.RequestReview(
        appeal(customer_id="shop-2", match_id=others), metadata=analyst, timeout=10
    )
    assert filed.customer_id == "shop-2"
    decided = served.review.Decide(decide, metadata=analyst, timeout=30)
    assert decided.state == rpb.CASE_STATE_FALSE_POSITIVE and decided.resolved_review_request_ids == [
        filed.id
    ]


def test_a_customer_scope_needs_its_customer_and_nothing_else() -> None:
    from scanner.auth import check_customer

    assert check_customer(["customer:appeal"], " shop-1 ") == "shop-1"
    assert check_customer(["scan"], None) is None
    with pytest.raises(ValueError, match="--customer"):
        check_customer(["customer:appeal"], "")
    with pytest.raises(ValueError, match="customer:appeal scope only"):
        check_customer(["customer:appeal", "review:write"], "shop-1")
    with pytest.raises(ValueError, match="customer:appeal scope only"):
        check_customer(["review:write"], "shop-1")
    with pytest.raises(ValueError, match="printable"):
        check_customer(["customer:appeal"], "shop\n1")
