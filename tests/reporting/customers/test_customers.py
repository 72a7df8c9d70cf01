"""Customers in the store: partner ownership, masked email, verification codes, tighten-only
thresholds, deletion; codes go through a real SMTP server. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from index.hashes import Hash
from reporting import models
from reporting.customers.email import SmtpVerificationMailer
from reporting.customers.ids import new_customer_id
from reporting.customers.rows import CustomerNotFound
from reporting.customers.store import CustomerStore
from reporting.customers.values import CustomerSettings, mask_email
from reporting.customers.verification import WrongCode
from reporting.db import session_factory
from reporting.destinations.email import SmtpSettings
from reporting.store import NewEntry, Store
from reporting.testing.smtp_sink import SmtpSink
from scanner.errors import AlreadyExists, FailedPrecondition, InvalidRequest, Unavailable
from scanner.recording import ScanContext
from tests.decisions import as_decided

PDQ = Hash.from_hex("pdq", "f" * 64)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def customers(store: Store, sink: SmtpSink) -> CustomerStore:
    store.ensure_list("csam", thresholds={"pdq": 31})
    store.ensure_list("ncii", thresholds={"pdq": 20})
    return CustomerStore(
        store.engine, SmtpVerificationMailer(SmtpSettings(sink.host, sink.port)), resend_after=timedelta(0)
    )


def code_in(sink: SmtpSink, count: int) -> str:
    message = sink.wait_for(count)[count - 1].message
    body = message.get_content()
    found = re.search(r"Verification code: (\S+)", body)
    assert found is not None, body
    return found.group(1)


def test_mask_email() -> None:
    assert mask_email("alice@example.org") == "a***@example.org"
    assert mask_email(None) == ""


def test_each_partner_reaches_only_its_own_customers(customers: CustomerStore) -> None:
    customers.create("partner-a:1", "partner-a", name="A one")
    customers.create("partner-a:2", "partner-a")
    customers.create("partner-b:1", "partner-b")
    customers.create("op-1", None)
    assert [c.customer_id for c in customers.list_page("partner-a")[0]] == ["partner-a:1", "partner-a:2"]
    assert [c.customer_id for c in customers.list_page("partner-b")[0]] == ["partner-b:1"]
    assert [c.customer_id for c in customers.list_page(None)[0]] == [
        "partner-a:1",
        "partner-a:2",
        "partner-b:1",
        "op-1",
    ]
    assert customers.get("partner-a:1", "partner-a").partner_id == "partner-a"
    for call in (
        lambda: customers.get("partner-b:1", "partner-a"),
        lambda: customers.update("partner-b:1", "partner-a", name="mine now"),
        lambda: customers.delete("partner-b:1", "partner-a"),
        lambda: customers.add_site("partner-b:1", "partner-a", "b.example"),
        lambda: customers.set_enabled("partner-b:1", "partner-a", False),
        lambda: customers.verify_email("partner-b:1", "partner-a", "X"),
        lambda: customers.get("op-1", "partner-a"),
    ):
        with pytest.raises(CustomerNotFound) as missing:
            call()
        with pytest.raises(CustomerNotFound) as absent:
            customers.get("no-such", "partner-a")
        # The same answer as for an id nobody has, apart from the id itself.
        assert str(missing.value).replace("partner-b:1", "X").replace("op-1", "X") == str(
            absent.value
        ).replace("no-such", "X")
    assert customers.visible_customer_ids("partner-a") == ["partner-a:1", "partner-a:2"]
    assert customers.visible_customer_ids("partner-z") == []
    assert customers.visible_customer_ids(None) is None
    with pytest.raises(InvalidRequest):
        customers.create("partner-a:3", "partner-a", owner="partner-b")


def test_pages_walk_every_customer_once(customers: CustomerStore) -> None:
    for n in range(7):
        customers.create(f"p:c-{n}", "p")
    seen, token = [], ""
    while True:
        page, token = customers.list_page("p", page_size=3, page_token=token)
        seen += [c.customer_id for c in page]
        if not token:
            break
    assert seen == [f"p:c-{n}" for n in range(7)]
    with pytest.raises(InvalidRequest):
        customers.list_page("p", page_token="nonsense")


def test_ids_and_sites_are_unique_across_customers(customers: CustomerStore) -> None:
    made = customers.create("", "p", sites=["Shop.Example.", "*.example.org"])
    assert made.customer_id.startswith("p:cus_") and made.sites == ("*.example.org", "shop.example")
    with pytest.raises(AlreadyExists):
        customers.create(made.customer_id, None, owner="p")
    with pytest.raises(AlreadyExists):
        customers.create("q:other", "q", sites=["shop.example"])
    customers.create("q:other", "q")
    with pytest.raises(AlreadyExists):
        customers.add_site("q:other", "q", "*.example.org")
    with pytest.raises(InvalidRequest):
        customers.add_site("q:other", "q", "not a host")
    assert customers.remove_site(made.customer_id, "p", "shop.example").sites == ("*.example.org",)
    assert customers.add_site("q:other", "q", "shop.example").sites == ("shop.example",)


def test_email_is_verified_with_a_one_time_code_and_shown_masked(
    customers: CustomerStore, sink: SmtpSink
) -> None:
    customers.create("p:shop", "p", name="Shop")
    with pytest.raises(FailedPrecondition):
        customers.set_enabled("p:shop", "p", True)
    pending = customers.set_email("p:shop", "p", "alice@example.org")
    assert (pending.email, pending.email_state) == ("a***@example.org", "pending")
    code = code_in(sink, 1)
    assert sink.messages[0].rcpt_tos == ("alice@example.org",)
    with pytest.raises(FailedPrecondition):
        customers.set_enabled("p:shop", "p", True)
    with pytest.raises(WrongCode, match="4 attempt"):
        customers.verify_email("p:shop", "p", "AAAA-AAAA-AAAA")
    verified = customers.verify_email("p:shop", "p", code.lower())
    assert (verified.email, verified.email_state) == ("a***@example.org", "verified")
    assert "alice" not in repr(verified)
    with pytest.raises(FailedPrecondition):  # one time only
        customers.verify_email("p:shop", "p", code)
    assert customers.set_enabled("p:shop", "p", True).enabled
    # Notices now go to the verified address, in the customer's mode.
    with session_factory(customers.engine)() as session:
        [destination] = session.query(models.Destination).filter_by(customer_id="p:shop").all()
        assert (destination.kind, destination.config["to"], destination.mode) == (
            "email",
            ["alice@example.org"],
            "immediate",
        )
    customers.update("p:shop", "p", settings={"notify": "digest"})
    with session_factory(customers.engine)() as session:
        [destination] = session.query(models.Destination).filter_by(customer_id="p:shop").all()
        assert destination.mode == "digest" and destination.last_digest_at is not None
    # The code is stored hashed.
    customers.set_email("p:shop", "p", "bob@example.org")
    second = code_in(sink, 2)
    with session_factory(customers.engine)() as session:
        [row] = session.query(models.EmailVerification).all()
        assert _normal(second) not in row.code_hash and len(row.code_hash) == 64
    # A new address pending leaves the verified one (and the customer) in service.
    view = customers.get("p:shop", "p")
    assert (view.email, view.email_state, view.enabled) == ("b***@example.org", "pending", True)


def _normal(code: str) -> str:
    return code.replace("-", "")


def test_codes_expire_and_run_out_of_attempts(customers: CustomerStore, sink: SmtpSink) -> None:
    customers.create("shop", None)
    customers.set_email("shop", None, "alice@example.org")
    code = code_in(sink, 1)
    with session_factory(customers.engine).begin() as session:
        session.execute(
            update(models.EmailVerification).values(expires_at=models.utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(FailedPrecondition, match="expired"):
        customers.verify_email("shop", None, code)

    customers.set_email("shop", None, "alice@example.org")
    code = code_in(sink, 2)
    for _ in range(5):
        with pytest.raises(WrongCode):
            customers.verify_email("shop", None, "WRONG")
    with pytest.raises(FailedPrecondition, match="too many"):
        customers.verify_email("shop", None, code)  # even the right one, now
    assert customers.get("shop", None).email_state == "pending"


def test_a_code_that_cannot_be_sent_changes_nothing(store: Store) -> None:
    with SmtpSink() as sink:
        customers = CustomerStore(store.engine, SmtpVerificationMailer(SmtpSettings(sink.host, sink.port)))
        customers.create("shop", None)
        sink.reject_next(1, 451)
        with pytest.raises(Unavailable):
            customers.set_email("shop", None, "alice@example.org")
    assert customers.get("shop", None).email_state == "unverified"


def test_thresholds_may_only_be_tightened(customers: CustomerStore) -> None:
    customers.create("shop", None)
    # Every list applies: the strictest (ncii, 20) is the ceiling.
    with pytest.raises(InvalidRequest, match="looser"):
        customers.update("shop", None, settings={"thresholds": {"pdq": 25}})
    # Only csam applies: up to its 31.
    view = customers.update("shop", None, settings={"lists": ["csam"], "thresholds": {"pdq": 25}})
    assert view.settings == CustomerSettings(("csam",), {"pdq": 25})
    with pytest.raises(InvalidRequest, match="looser"):
        customers.update("shop", None, settings={"thresholds": {"pdq": 32}})
    with pytest.raises(InvalidRequest, match="no list"):
        customers.update("shop", None, settings={"lists": ["nope"]})
    with pytest.raises(InvalidRequest, match="unknown algorithm"):
        customers.update("shop", None, settings={"thresholds": {"nope": 1}})
    with pytest.raises(InvalidRequest):
        customers.update("shop", None, settings={"degraded_verdict": "maybe"})
    with pytest.raises(InvalidRequest):
        customers.create("x", None, settings=CustomerSettings(thresholds={"pdq": 40}))
    assert customers.get("shop", None).settings.thresholds == {"pdq": 25}


def test_policy_changes_follow_enabled_customers(customers: CustomerStore, sink: SmtpSink) -> None:
    start = customers.policy_version()
    customers.create("shop", None, settings=CustomerSettings(("csam",), {"pdq": 10}, "allow"))
    changes = customers.policy_changes(start)
    assert changes.upserts == () and changes.removed == ("shop",)
    customers.set_email("shop", None, "a@example.org")
    customers.verify_email("shop", None, code_in(sink, 1))
    customers.set_enabled("shop", None, True)
    changes = customers.policy_changes(changes.version)
    [policy] = changes.upserts
    assert (policy.customer_id, policy.lists, policy.degraded_verdict) == (
        "shop",
        frozenset({"csam"}),
        "allow",
    )
    assert customers.policy_version() == changes.version
    customers.delete("shop", None)
    assert customers.policy_changes(changes.version).removed == ("shop",)


def test_delete_keeps_matches_blocks_and_evidence_and_the_id(store: Store, customers: CustomerStore) -> None:
    from reporting.matches.evidence import EvidenceBox
    from reporting.store import ActionConfig
    from tests.reporting.customers.customer_fixtures import one_hit

    store.import_entries("csam", [NewEntry(PDQ)])
    recording = Store(store.engine, ActionConfig(EvidenceBox(os.urandom(32))))
    customers.create("p:shop", "p", sites=["shop.example"])
    match_id = recording.record_match(
        ScanContext(customer_id="p:shop", url="https://shop.example/a.jpg"),
        [PDQ],
        as_decided(store, [one_hit(store)]),
        b"img",
    )
    result = customers.delete("p:shop", "p")
    assert (result.matches_kept, result.blocks_kept, result.evidence_kept) == (1, 1, 1)
    with pytest.raises(CustomerNotFound):
        customers.get("p:shop", "p")
    assert customers.list_page(None)[0] == []
    with pytest.raises(AlreadyExists):
        customers.create("p:shop", "p")
    with pytest.raises(AlreadyExists):
        customers.create("p:shop", None, owner="p")
    # The site is free again; the match, its block and evidence are still there.
    customers.create("q:new-owner", "q", sites=["shop.example"])
    [status] = store.block_status("p:shop", ["https://shop.example/a.jpg"])
    assert (status.state, status.match_id) == ("active", match_id)
    with session_factory(store.engine)() as session:
        assert session.query(models.Evidence).filter_by(match_id=match_id).count() == 1


def test_notices_go_to_the_verified_address_immediately_or_in_a_digest(
    store: Store, customers: CustomerStore, sink: SmtpSink
) -> None:
    from reporting.settings import ReportingSettings
    from reporting.worker import Worker
    from tests.reporting.customers.customer_fixtures import one_hit

    store.import_entries("csam", [NewEntry(PDQ)])
    for customer_id, notify in (("now", "immediate"), ("later", "digest")):
        customers.create(customer_id, None, settings=CustomerSettings(notify=notify))
        customers.set_email(customer_id, None, f"{customer_id}@example.org")
        customers.verify_email(customer_id, None, code_in(sink, len(sink.messages)))
    codes_sent = len(sink.messages)
    for customer_id in ("now", "later"):
        store.record_match(
            ScanContext(customer_id=customer_id, url=f"https://{customer_id}.example/a.jpg"),
            [PDQ],
            as_decided(store, [one_hit(store)]),
        )
    settings = ReportingSettings(smtp_host=sink.host, smtp_port=sink.port, digest_period_seconds=60)
    clock = _Clock()
    worker = Worker(store.engine, settings, clock=clock)
    worker.drain()
    [notice] = sink.wait_for(codes_sent + 1)[codes_sent:]
    assert notice.rcpt_tos == ("now@example.org",)
    assert worker.run_digests() == 0  # the digest period has not passed
    clock.now += timedelta(seconds=61)
    assert worker.run_digests() == 1
    [digest] = sink.wait_for(codes_sent + 2)[codes_sent + 1 :]
    assert digest.rcpt_tos == ("later@example.org",) and "digest" in str(digest.message["Subject"]).lower()


class _Clock:
    def __init__(self) -> None:
        self.now = models.utcnow()

    def __call__(self) -> datetime:
        return self.now


def test_codes_are_not_sent_again_within_a_minute(store: Store, sink: SmtpSink) -> None:
    customers = CustomerStore(store.engine, SmtpVerificationMailer(SmtpSettings(sink.host, sink.port)))
    customers.create("shop", None)
    customers.set_email("shop", None, "alice@example.org")
    with pytest.raises(FailedPrecondition, match="wait"):
        customers.set_email("shop", None, "victim@example.org")
    assert len(sink.wait_for(1)) == 1
    with session_factory(store.engine).begin() as session:
        session.execute(
            update(models.EmailVerification).values(created_at=models.utcnow() - timedelta(seconds=61))
        )
    customers.set_email("shop", None, "alice@example.org")
    assert len(sink.wait_for(2)) == 2


def test_a_partner_id_with_a_trailing_newline_is_refused() -> None:
    # A regex's "$" matches before a final newline: "host-a\n" must not pass as "host-a".
    with pytest.raises(InvalidRequest, match="partner_id"):
        new_customer_id("", "host-a\n", by_partner=False)
    assert new_customer_id("host-a:shop", "host-a", by_partner=False) == "host-a:shop"
