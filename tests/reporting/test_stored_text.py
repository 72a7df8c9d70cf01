"""Strings the reporting side stores are refused, naming the field, when they hold a control
character (``index.text``), on SQLite and PostgreSQL: review notes and statements (which keep
TAB and line breaks), review-request URLs, destination configs, customer ids and sites."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from index.hashes import Hash
from index.matcher import Matcher
from reporting.customers.email import SmtpVerificationMailer
from reporting.customers.store import CustomerStore
from reporting.destinations import DestinationConfigError
from reporting.destinations.admin import DestinationAdmin
from reporting.destinations.email import SmtpSettings
from reporting.matches.evidence import EvidenceBox
from reporting.review.appeals import Appeals
from reporting.review.decisions import Decisions
from reporting.review.errors import InvalidReview
from reporting.review.queue import ReviewQueue
from reporting.review.values import Reviewer
from reporting.settings import ReportingSettings
from reporting.store import ActionConfig, NewEntry, Store
from reporting.testing.smtp_sink import SmtpSink
from scanner.errors import InvalidRequest
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
ANALYST = Reviewer("analyst:ann")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def acting(store: Store) -> Store:
    acting = Store(store.engine, ActionConfig(evidence=EvidenceBox(os.urandom(32))))
    acting.import_entries("ncmec", [NewEntry(A, "n-1")])
    return acting


def _match(store: Store, url: str) -> int:
    hits = Matcher(store.matcher_inputs()).match([A])
    context = ScanContext("req", "cust", url, "192.0.2.1", "image/jpeg")
    return store.record_match(context, [A], as_decided(store, hits), b"\xff\xd8 bytes")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85", "\ufffe"])
def test_a_review_note_or_statement_with_a_control_character_is_refused(
    acting: Store, character: str
) -> None:
    queue, decisions, appeals = ReviewQueue(acting.engine), Decisions(acting.engine), Appeals(acting.engine)
    match_id = _match(acting, "https://a.example/1.jpg")
    with pytest.raises(InvalidReview) as refused:
        decisions.decide(match_id, "escalate", ANALYST, f"looks{character}odd")
    assert refused.value.field == "note" and "U+" in str(refused.value)
    with pytest.raises(InvalidReview) as refused:
        appeals.request_review("cust", "removed", f"gone{character}now", match_id=match_id)
    assert refused.value.field == "statement"
    with pytest.raises(InvalidReview) as refused:
        appeals.request_review("cust", "removed", "gone", url=f"https://a.example/1.jpg{character}")
    assert refused.value.field == "url"
    assert queue.case(match_id, "analyst:ann").state == "open", "nothing was decided"


def test_a_note_keeps_its_line_breaks_and_tabs(acting: Store) -> None:
    queue, decisions, appeals = ReviewQueue(acting.engine), Decisions(acting.engine), Appeals(acting.engine)
    match_id = _match(acting, "https://a.example/2.jpg")
    note = "first line\r\nsecond\tline\nthird"
    decisions.decide(match_id, "escalate", ANALYST, note)
    assert queue.case(match_id, "analyst:ann").note == note
    request = appeals.request_review("cust", "not_as_listed", "line 1\r\nline 2", match_id=match_id)
    assert request.statement == "line 1\r\nline 2"


@pytest.mark.parametrize(
    ("kind", "config", "key"),
    [
        ("webhook", {"url": "https://hooks.example/\x01", "secret": "s" * 20}, "url"),
        ("webhook", {"url": "https://hooks.example/h", "secret": "s" * 20 + "\n"}, "secret"),
        ("email", {"to": ["ok@shop.example", "x\x85@shop.example"]}, "to"),
        ("pagerduty", {"routing_key": "R" * 32, "source": "edge\r\n1"}, "source"),
    ],
)
def test_a_destination_config_with_a_control_character_is_refused_naming_the_key(
    store: Store, sink: SmtpSink, kind: str, config: dict[str, object], key: str
) -> None:
    admin = DestinationAdmin(store.engine, ReportingSettings(smtp_host=sink.host, smtp_port=sink.port))
    with pytest.raises(DestinationConfigError, match=rf"{kind}: '{key}' contains a (C1 )?control character"):
        admin.add("shop", kind, config)
    assert admin.all() == []


def test_a_secret_is_never_echoed_when_refused(store: Store, sink: SmtpSink) -> None:
    admin = DestinationAdmin(store.engine, ReportingSettings(smtp_host=sink.host, smtp_port=sink.port))
    secret = "whsec-do-not-print\x01-0123456789"
    with pytest.raises(DestinationConfigError) as refused:
        admin.add("shop", "webhook", {"url": "https://hooks.example/h", "secret": secret})
    assert "do-not-print" not in str(refused.value)


def test_a_destination_name_with_a_control_character_is_refused(store: Store, sink: SmtpSink) -> None:
    admin = DestinationAdmin(store.engine, ReportingSettings(smtp_host=sink.host, smtp_port=sink.port))
    with pytest.raises(ValueError, match="name contains a control character"):
        admin.add("shop", "email", {"to": "ok@shop.example"}, name="abuse\ndesk")
    assert admin.all() == []


def test_customer_ids_and_sites_may_not_end_in_a_line_break(store: Store, sink: SmtpSink) -> None:
    customers = CustomerStore(store.engine, SmtpVerificationMailer(SmtpSettings(sink.host, sink.port)))
    with pytest.raises(InvalidRequest) as refused:
        customers.create("shop\n", None)
    assert refused.value.field == "customer_id"
    with pytest.raises(InvalidRequest) as refused:
        customers.create("shop", None, sites=["shop\n.example"])
    assert refused.value.field == "host"
    created = customers.create("shop", None, sites=["shop.example"])
    assert created.customer_id == "shop" and created.sites == ("shop.example",)
    with pytest.raises(InvalidRequest):
        customers.add_site("shop", None, "cdn\n.shop.example")
