"""``hashwatch.v1.Customers`` on a real server (port 0, --require-auth) with a real SMTP server,
on SQLite and PostgreSQL: partners, verified email, settings the running scan path follows."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from PIL import Image

from reporting.access.tokens import TokenStore
from reporting.settings import ReportingSettings
from reporting.testing.smtp_sink import SmtpSink
from scanner.api.hashwatch.v1 import audit_pb2, audit_pb2_grpc, review_pb2, review_pb2_grpc
from scanner.api.hashwatch.v1 import customers_pb2 as cpb
from scanner.api.hashwatch.v1 import customers_pb2_grpc as cpb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

Metadata = tuple[tuple[str, str | bytes], ...]
ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()


def _cropped_rocket() -> bytes:
    # 4 pixels off each side: PDQ 20 and pHash 4 bits from the listed rocket, within the list's
    # thresholds (31, 8) but not within a customer's tightened 10 and 2.
    image = Image.open(io.BytesIO(ROCKET))
    out = io.BytesIO()
    image.crop((4, 4, image.width - 4, image.height - 4)).convert("RGB").save(out, "JPEG", quality=30)
    return out.getvalue()


CROPPED = _cropped_rocket()


@dataclass
class Served:
    app: App
    scanner: pb_grpc.ScannerStub
    customers: cpb_grpc.CustomersStub
    channel: grpc.Channel
    tokens: TokenStore
    sink: SmtpSink
    scan_token: Metadata = ()

    def auth(self, *scopes: str, partner: str | None = None) -> Metadata:
        secret = self.tokens.create(scopes, name="-".join(scopes), actor="test", partner_id=partner).secret
        return (("authorization", f"Bearer {secret}"),)

    def scan(self, customer_id: str, content: bytes = ROCKET, url: str = "") -> pb.ScanResponse:
        request = pb.ScanRequest(
            request_id="r",
            customer_id=customer_id,
            url=url or f"https://{customer_id}.example/a.jpg",
            content=content,
        )
        self.scan_token = self.scan_token or self.auth("scan")
        response: pb.ScanResponse = self.scanner.Scan(request, metadata=self.scan_token, timeout=30)
        return response

    def code(self, count: int) -> str:
        body = self.sink.wait_for(count)[count - 1].message.get_content()
        found = re.search(r"Verification code: (\S+)", body)
        assert found is not None
        return found.group(1)

    def onboard(self, token: Metadata, customer_id: str, email: str) -> cpb.Customer:
        """Create, verify the email through the real SMTP path, enable."""
        self.customers.CreateCustomer(
            cpb.CreateCustomerRequest(customer_id=customer_id), metadata=token, timeout=10
        )
        self.customers.SetEmail(
            cpb.SetEmailRequest(customer_id=customer_id, email=email), metadata=token, timeout=30
        )
        code = self.code(len(self.sink.messages))
        self.customers.VerifyEmail(
            cpb.VerifyEmailRequest(customer_id=customer_id, code=code), metadata=token, timeout=10
        )
        enabled: cpb.Customer = self.customers.EnableCustomer(
            cpb.EnableCustomerRequest(customer_id=customer_id), metadata=token, timeout=10
        )
        return enabled


def serve(
    database_url: str,
    tmp_path: Path,
    reporting_overrides: dict[str, object] | None = None,
    **overrides: object,
) -> Iterator[Served]:
    settings = load_settings(
        port=0,
        data_dir=tmp_path / "var",
        database_url=database_url,
        threads=2,
        require_auth=True,
        customer_poll_seconds=0.1,
        **overrides,
    )
    with SmtpSink() as sink:
        reporting = ReportingSettings(
            smtp_host=sink.host,
            smtp_port=sink.port,
            **(reporting_overrides or {}),  # type: ignore[arg-type]
        )
        app = build_app(settings, reporting)
        import_demo_list(app)
        app.server.start()
        stop = threading.Event()
        watcher = threading.Thread(target=app.watch_customers, args=(stop,), daemon=True)
        watcher.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
        try:
            yield Served(
                app,
                pb_grpc.ScannerStub(channel),
                cpb_grpc.CustomersStub(channel),
                channel,
                TokenStore(app.store.engine),
                sink,
            )
        finally:
            stop.set()
            watcher.join(5)
            channel.close()
            app.server.drain(grace_seconds=5)
            app.store.engine.dispose()


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    yield from serve(database_url, tmp_path)


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failed:
        call()
    code: grpc.StatusCode = failed.value.code()
    return code


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> float:
    """Seconds until ``check`` held; fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def test_two_partners_each_reach_only_their_own_customers(served: Served) -> None:
    a, b = served.auth("partner", partner="host-a"), served.auth("partner", partner="host-b")
    api = served.customers
    for n in range(3):
        api.CreateCustomer(
            cpb.CreateCustomerRequest(customer_id=f"host-a:{n}", name=f"A {n}"), metadata=a, timeout=10
        )
    made = api.CreateCustomer(cpb.CreateCustomerRequest(sites=["shop.b.example"]), metadata=b, timeout=10)
    assert made.customer_id.startswith("host-b:cus_") and made.partner_id == "host-b"

    def listed(token: Metadata) -> list[tuple[str, str]]:
        ids, page_token = [], ""
        while True:
            page = api.ListCustomers(
                cpb.ListCustomersRequest(page_size=2, page_token=page_token), metadata=token, timeout=10
            )
            ids += [(c.customer_id, c.partner_id) for c in page.customers]
            page_token = page.next_page_token
            if not page_token:
                return ids

    assert listed(a) == [("host-a:0", "host-a"), ("host-a:1", "host-a"), ("host-a:2", "host-a")]
    assert listed(b) == [(made.customer_id, "host-b")]
    admin = served.auth("customers:read")
    assert listed(admin) == listed(a) + listed(b)

    other = made.customer_id
    mask = field_mask_pb2.FieldMask(paths=["name"])
    for call in (
        lambda: api.GetCustomer(cpb.GetCustomerRequest(customer_id=other), metadata=a, timeout=10),
        lambda: api.UpdateCustomer(
            cpb.UpdateCustomerRequest(customer_id=other, name="x", update_mask=mask), metadata=a, timeout=10
        ),
        lambda: api.DeleteCustomer(cpb.DeleteCustomerRequest(customer_id=other), metadata=a, timeout=10),
        lambda: api.AddSite(cpb.SiteRequest(customer_id=other, host="x.example"), metadata=a, timeout=10),
        lambda: api.RemoveSite(
            cpb.SiteRequest(customer_id=other, host="shop.b.example"), metadata=a, timeout=10
        ),
        lambda: api.SetEmail(
            cpb.SetEmailRequest(customer_id=other, email="x@example.org"), metadata=a, timeout=10
        ),
        lambda: api.VerifyEmail(cpb.VerifyEmailRequest(customer_id=other, code="X"), metadata=a, timeout=10),
        lambda: api.EnableCustomer(cpb.EnableCustomerRequest(customer_id=other), metadata=a, timeout=10),
        lambda: api.DisableCustomer(cpb.DisableCustomerRequest(customer_id=other), metadata=a, timeout=10),
        lambda: api.GetCustomer(cpb.GetCustomerRequest(customer_id="host-a:0"), metadata=b, timeout=10),
        lambda: api.GetCustomer(cpb.GetCustomerRequest(customer_id="never-made"), metadata=b, timeout=10),
    ):
        assert code_of(call) == grpc.StatusCode.NOT_FOUND
    assert not served.sink.messages  # nothing was sent for the other partner's customer
    # B's customer is untouched.
    assert api.GetCustomer(cpb.GetCustomerRequest(customer_id=other), metadata=b, timeout=10).sites == [
        "shop.b.example"
    ]
    # A partner token cannot create customers for another partner.
    assert (
        code_of(
            lambda: api.CreateCustomer(cpb.CreateCustomerRequest(partner_id="host-b"), metadata=a, timeout=10)
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_partner_tokens_reach_no_other_service(served: Served) -> None:
    a = served.auth("partner", partner="host-a")
    review = review_pb2_grpc.ReviewStub(served.channel)
    audit = audit_pb2_grpc.AuditStub(served.channel)
    for call in (
        lambda: served.scanner.Blocks(
            pb.BlocksRequest(customer_id="a-0", urls=["u"]), metadata=a, timeout=10
        ),
        lambda: served.scanner.Scan(pb.ScanRequest(content=ROCKET), metadata=a, timeout=10),
        lambda: review.ListMatches(review_pb2.ListMatchesRequest(), metadata=a, timeout=10),
        lambda: audit.ListAuditLog(audit_pb2.ListAuditLogRequest(), metadata=a, timeout=10),
    ):
        assert code_of(call) == grpc.StatusCode.PERMISSION_DENIED
    # Nor can a token bound to a partner carry a broader scope.
    with pytest.raises(ValueError, match="partner scope only"):
        served.tokens.create(["partner", "scan"], partner_id="host-a")
    with pytest.raises(ValueError, match="--partner"):
        served.tokens.create(["partner"])
    # A customers:read token cannot write.
    reader = served.auth("customers:read")
    assert (
        code_of(
            lambda: served.customers.CreateCustomer(cpb.CreateCustomerRequest(), metadata=reader, timeout=10)
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )


def test_verified_customer_is_enabled_and_scanned_with_its_tightened_threshold(served: Served) -> None:
    token = served.auth("partner", partner="host-a")
    api = served.customers
    created = api.CreateCustomer(
        cpb.CreateCustomerRequest(customer_id="host-a:shop-a", sites=["shop-a.example"]),
        metadata=token,
        timeout=10,
    )
    assert created.email_state == cpb.EMAIL_STATE_UNVERIFIED and not created.enabled
    enable = cpb.EnableCustomerRequest(customer_id="host-a:shop-a")
    assert (
        code_of(lambda: api.EnableCustomer(enable, metadata=token, timeout=10))
        == grpc.StatusCode.FAILED_PRECONDITION
    )

    pending = api.SetEmail(
        cpb.SetEmailRequest(customer_id="host-a:shop-a", email="owner@shop-a.example"),
        metadata=token,
        timeout=30,
    )
    assert (pending.email, pending.email_state) == ("o***@shop-a.example", cpb.EMAIL_STATE_PENDING)
    [sent] = served.sink.wait_for(1)
    assert sent.rcpt_tos == ("owner@shop-a.example",)
    assert (
        code_of(lambda: api.EnableCustomer(enable, metadata=token, timeout=10))
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    wrong = cpb.VerifyEmailRequest(customer_id="host-a:shop-a", code="NOPE-NOPE-NOPE")
    assert (
        code_of(lambda: api.VerifyEmail(wrong, metadata=token, timeout=10))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    verified = api.VerifyEmail(
        cpb.VerifyEmailRequest(customer_id="host-a:shop-a", code=served.code(1)), metadata=token, timeout=10
    )
    assert (verified.email, verified.email_state) == ("o***@shop-a.example", cpb.EMAIL_STATE_VERIFIED)

    # Looser than the lists' thresholds: refused.
    loose = cpb.UpdateCustomerRequest(
        customer_id="host-a:shop-a",
        settings=cpb.CustomerSettings(thresholds={"pdq": 40}),
        update_mask=field_mask_pb2.FieldMask(paths=["settings.thresholds"]),
    )
    assert (
        code_of(lambda: api.UpdateCustomer(loose, metadata=token, timeout=10))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    tight = api.UpdateCustomer(
        cpb.UpdateCustomerRequest(
            customer_id="host-a:shop-a",
            settings=cpb.CustomerSettings(thresholds={"pdq": 10, "phash": 2}),
            update_mask=field_mask_pb2.FieldMask(paths=["settings.thresholds"]),
        ),
        metadata=token,
        timeout=10,
    )
    assert dict(tight.settings.thresholds) == {"pdq": 10, "phash": 2} and tight.email == "o***@shop-a.example"
    enabled = api.EnableCustomer(enable, metadata=token, timeout=10)
    assert enabled.enabled and enabled.email == "o***@shop-a.example"

    # Within seconds the running server scans shop-a with its own thresholds.
    eventually(lambda: served.scan("host-a:shop-a", CROPPED).verdict == pb.VERDICT_ALLOW)
    exact = served.scan("host-a:shop-a", ROCKET, "https://shop-a.example/rocket.jpg")
    assert exact.verdict == pb.VERDICT_BLOCK and exact.match_id
    exact_hashes = (pb.ALGORITHM_MD5, pb.ALGORITHM_SHA1)
    assert {m.algorithm: m.threshold for m in exact.matches if m.algorithm not in exact_hashes} == {
        pb.ALGORITHM_PDQ: 10,
        pb.ALGORITHM_PHASH: 2,
    }
    # Anyone else still gets the lists' own thresholds.
    assert served.scan("someone-else", CROPPED).verdict == pb.VERDICT_BLOCK

    # Every answer kept the email masked.
    listed = api.ListCustomers(cpb.ListCustomersRequest(), metadata=token, timeout=10)
    assert [c.email for c in listed.customers] == ["o***@shop-a.example"]
    assert "owner@" not in str(listed)


def test_settings_changes_reach_the_running_server_within_seconds(served: Served) -> None:
    admin = served.auth("customers:write")
    served.onboard(admin, "shop", "owner@shop.example")
    served.app.store.ensure_list("other")
    assert served.scan("shop").verdict == pb.VERDICT_BLOCK
    served.customers.UpdateCustomer(
        cpb.UpdateCustomerRequest(
            customer_id="shop",
            settings=cpb.CustomerSettings(lists=["other"]),
            update_mask=field_mask_pb2.FieldMask(paths=["settings.lists"]),
        ),
        metadata=admin,
        timeout=10,
    )
    took = eventually(lambda: served.scan("shop").verdict == pb.VERDICT_ALLOW)
    assert took < 5
    served.customers.DisableCustomer(
        cpb.DisableCustomerRequest(customer_id="shop"), metadata=admin, timeout=10
    )
    # Disabled: back to the default for unknown customers (scan with every list).
    eventually(lambda: served.scan("shop").verdict == pb.VERDICT_BLOCK)


@pytest.fixture
def rejecting(database_url: str, tmp_path: Path) -> Iterator[Served]:
    yield from serve(database_url, tmp_path, unknown_customer="reject")


def test_unknown_customers_are_not_scanned_when_configured_so(rejecting: Served) -> None:
    refused = rejecting.scan("stranger")
    assert (refused.verdict, refused.outcome, refused.match_id) == (
        pb.VERDICT_ALLOW,
        pb.OUTCOME_UNKNOWN_CUSTOMER,
        0,
    )
    assert not refused.hashes and "no enabled customer" in refused.reason
    assert rejecting.app.store.matches() == []
    admin = rejecting.auth("admin")
    rejecting.onboard(admin, "stranger", "owner@stranger.example")
    eventually(lambda: rejecting.scan("stranger").verdict == pb.VERDICT_BLOCK)
    rejecting.customers.DeleteCustomer(
        cpb.DeleteCustomerRequest(customer_id="stranger"), metadata=admin, timeout=10
    )
    eventually(lambda: rejecting.scan("stranger").outcome == pb.OUTCOME_UNKNOWN_CUSTOMER)
