"""What a CyberTipline report does with characters XML 1.0 cannot carry, against the fake
CyberTipline and a real SMTP server, on SQLite and PostgreSQL.

A match recorded before control characters were refused at the edge may hold one in its URL:
its report is still filed, the URL percent-encoded and the report saying so, the recorded URL
untouched. A value the builder cannot make reportable stops that report for good, with the
operators told, instead of being retried for ever."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from index.hashes import Hash
from index.matcher import Matcher
from reporting import models
from reporting.destinations.admin import DestinationAdmin
from reporting.matches.evidence import EvidenceBox
from reporting.partners.cybertipline import FileDetails, Reporter, build_report_xml
from reporting.partners.cybertipline.errors import ReportNotBuildable
from reporting.settings import ReportingSettings
from reporting.store import ActionConfig, NewEntry, Store
from reporting.testing.fake_cybertipline import FakeCyberTipline
from reporting.testing.smtp_sink import SmtpSink
from reporting.worker import Worker
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
CONTENT = b"\x89PNG pretend image bytes"
# What an old row may hold: C0, C1 and a non-character (PostgreSQL and SQLite cannot hold NUL
# or a lone surrogate, so none was ever stored).
OLD_URL = "https://shop.example/img/a\x01b\x85c\ufffe.jpg"
FILED_URL = "https://shop.example/img/a%01b%C2%85c%EF%BF%BE.jpg"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def partner() -> Iterator[FakeCyberTipline]:
    with FakeCyberTipline() as server:
        yield server


@pytest.fixture
def acting(store: Store) -> Store:
    acting = Store(store.engine, ActionConfig(evidence=EvidenceBox(os.urandom(32))))
    acting.import_entries("csam", [NewEntry(A, "ncmec-1")])
    acting.set_policy("csam", {"report": "immediately", "notify": False})
    return acting


def _settings(sink: SmtpSink, partner: FakeCyberTipline, **extra: object) -> ReportingSettings:
    values: dict[str, object] = {
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_from": "hashwatch@test.example",
        "cybertipline_url": partner.url,
        "cybertipline_username": partner.username,
        "cybertipline_password": "test-password",
        "reporter_email": "ts@hashwatch.example",
        "worker_max_attempts": 4,
        **extra,
    }
    return ReportingSettings.model_validate(values)


def _old_match(store: Store, url: str) -> int:
    # Store.record_match is what the edge calls after its checks: an old row, as it was stored.
    hits = Matcher(store.matcher_inputs()).match([A])
    return store.record_match(
        ScanContext("r", "shop", url, "198.51.100.7", "image/png"), [A], as_decided(store, hits), CONTENT
    )


def test_an_old_match_with_control_characters_in_its_url_is_still_filed(
    acting: Store, sink: SmtpSink, partner: FakeCyberTipline
) -> None:
    match_id = _old_match(acting, OLD_URL)
    Worker(acting.engine, _settings(sink, partner), acting.actions.evidence).drain()

    [filed] = partner.finished_reports()
    # The fake parsed both documents with expat, as NCMEC would; parse them again to be sure.
    ET.fromstring(filed.xml)
    assert filed.urls == [FILED_URL]
    note = filed.root.findtext("additionalInfo") or ""
    assert "U+0001" in note and "U+0085" in note and "U+FFFE" in note and "percent-encoded" in note
    [file] = filed.files.values()
    assert file.filename == "a%01b%C2%85c%EF%BF%BE.jpg"
    assert file.details is not None
    assert file.details.findtext("locationOfFile") == FILED_URL
    assert "U+0001" in (file.details.findtext("additionalInfo") or "")
    with acting._sessions() as session:
        match = session.get(models.Match, match_id)
        [report] = session.scalars(select(models.Report)).all()
        assert match is not None and match.url == OLD_URL, "the recorded URL is kept as it was"
        assert (report.step, report.partner_report_id) == ("finished", filed.report_id)


def test_a_clean_url_is_filed_unchanged_and_without_a_note(
    acting: Store, sink: SmtpSink, partner: FakeCyberTipline
) -> None:
    _old_match(acting, "https://shop.example/img/caf\u00e9.jpg")
    Worker(acting.engine, _settings(sink, partner), acting.actions.evidence).drain()
    [filed] = partner.finished_reports()
    assert filed.urls == ["https://shop.example/img/caf\u00e9.jpg"]
    assert filed.root.find("additionalInfo") is None


def test_a_value_xml_cannot_carry_stops_the_report_for_good_and_tells_the_operators(
    acting: Store, sink: SmtpSink, partner: FakeCyberTipline
) -> None:
    # The reporter's name comes from the operator's settings, not from a match.
    settings = _settings(sink, partner, reporter_first_name="Ann\x0bMarie")
    DestinationAdmin(acting.engine, settings).add("_operators", "email", {"to": "oncall@hashwatch.example"})
    _old_match(acting, "https://shop.example/img/1.jpg")
    Worker(acting.engine, settings, acting.actions.evidence).drain()

    assert partner.reports == [], "nothing unparseable was sent"
    [alert] = sink.wait_for(1)
    assert alert.rcpt_tos == ("oncall@hashwatch.example",)
    with acting._sessions() as session:
        [delivery] = [d for d in session.scalars(select(models.Delivery)) if d.target.startswith("report:")]
        [report] = session.scalars(select(models.Report)).all()
    assert (delivery.state, delivery.attempts) == ("dead", 1), "not retried: it cannot succeed"
    for error in (delivery.last_error, report.last_error):
        assert "firstName" in error and "U+000B" in error and "XML 1.0" in error


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\ud800", "\uffff"])
def test_the_builders_refuse_what_xml_cannot_carry(bad: str) -> None:
    reporter = Reporter("Ann", "Lee", "ann@example.org")
    with pytest.raises(ReportNotBuildable, match="url"):
        build_report_xml(incident_time=models.utcnow(), urls=[f"https://a.example/{bad}"], reporter=reporter)
    with pytest.raises(ReportNotBuildable, match="originalFileName"):
        FileDetails(original_file_name=f"a{bad}.jpg").to_xml("1", "f")
    # TAB, LF, CR and C1 characters are XML 1.0 characters: the builder takes them.
    ET.fromstring(FileDetails(additional_info=("a\tb\nc\rd\x85",)).to_xml("1", "f"))
