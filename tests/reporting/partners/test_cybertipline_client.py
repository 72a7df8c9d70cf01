"""The CyberTipline client against the local fake partner server: every endpoint and code."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from reporting.partners.cybertipline import (
    INCIDENT_TYPE_CSAM,
    CyberTiplineClient,
    CyberTiplineEnvironment,
    FileDetails,
    IpCapture,
    PartnerAuthError,
    PartnerProtocolError,
    PartnerRejected,
    PartnerUnavailable,
    ReportAlreadyFinished,
    Reporter,
    ReportNotFound,
    base_url_from_settings,
    build_report_xml,
    client_from_settings,
)
from reporting.settings import ReportingSettings
from reporting.testing.fake_cybertipline import FakeCyberTipline

USER, PASSWORD = "hashwatch-test", "test-password"
REPORTER = Reporter("Ada", "Operator", "trust@hashwatch.example")


def report_xml(url: str = "https://shop.example/img/1.jpg") -> bytes:
    return build_report_xml(
        incident_time=datetime(2026, 11, 26, 8, 15, tzinfo=UTC),
        urls=[url],
        reporter=REPORTER,
        reported_ip_captures=[IpCapture("203.0.113.9", "Upload", datetime(2026, 11, 26, 8, 14, tzinfo=UTC))],
    )


@pytest.fixture
def fake() -> Iterator[FakeCyberTipline]:
    with FakeCyberTipline(USER, PASSWORD) as server:
        yield server


@pytest.fixture
def client(fake: FakeCyberTipline) -> Iterator[CyberTiplineClient]:
    with CyberTiplineClient(fake.url, USER, PASSWORD, timeout=2.0) as c:
        yield c


def test_the_whole_flow_by_hand(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    assert USER in client.status()
    report_id = client.submit(report_xml())
    evidence = b"\xff\xd8\xff evidence"
    file_id, md5 = client.upload(report_id, "1.jpg", evidence)
    assert md5 == hashlib.md5(evidence).hexdigest()
    details = FileDetails(original_file_name="1.jpg", location_of_file="https://shop.example/img/1.jpg")
    client.file_info(report_id, file_id, details.to_xml(report_id, file_id))
    done = client.finish(report_id)
    assert (done.report_id, done.file_ids, done.already_finished) == (report_id, (file_id,), False)
    (report,) = fake.finished_reports()
    assert report.urls == ["https://shop.example/img/1.jpg"]
    assert report.files[file_id].md5 == md5


def test_report_xml_is_well_formed_and_escapes_hostile_text() -> None:
    hostile = "https://shop.example/<script>&x=]]></url><url>evil"
    root = ET.fromstring(
        build_report_xml(
            incident_time=datetime(2026, 1, 1, tzinfo=UTC),
            urls=[hostile],
            reporter=Reporter("A<b>", "C&D", "x@y.example"),
            additional_info="matched by pdq",
        )
    )
    assert root.tag == "report"
    assert root.findtext("incidentSummary/incidentType") == INCIDENT_TYPE_CSAM
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-01-01T00:00:00Z"
    assert [u.text for u in root.iter("url")] == [hostile]
    assert root.findtext("reporter/reportingPerson/firstName") == "A<b>"
    assert [c.tag for c in root] == ["incidentSummary", "internetDetails", "reporter", "additionalInfo"]


def test_file_details_xml() -> None:
    details = FileDetails(
        original_file_name="a.jpg",
        publicly_available=True,
        original_md5="D41D8CD98F00B204E9800998ECF8427E",
        hashes={"PDQ": "f" * 64},
    )
    root = ET.fromstring(details.to_xml("77", "f1"))
    assert (root.findtext("reportId"), root.findtext("fileId")) == ("77", "f1")
    assert root.findtext("fileViewedByEsp") == "false"  # a hash match is not a human view
    assert root.findtext("publiclyAvailable") == "true"
    hash_element = root.find("originalFileHash")
    assert hash_element is not None and hash_element.get("hashType") == "MD5"
    assert hash_element.text == "d41d8cd98f00b204e9800998ecf8427e"
    assert root.findtext("details/nameValuePair/value") == "f" * 64
    with pytest.raises(ValueError):
        FileDetails(original_md5="xyz")
    with pytest.raises(ValueError):
        FileDetails(file_relevance="Interesting")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<report><incidentSummary>", 4110),
        (b"not xml at all", 4110),
        (b'<!DOCTYPE r [<!ENTITY x "y">]><report/>', 4110),
        (b"<report/>", 4100),
        (b"<notareport/>", 4100),
        (
            b"<report><incidentSummary><incidentType>Bad Things</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>"
            b"<reporter><reportingPerson/></reporter></report>",
            4100,
        ),
        (
            b"<report><incidentSummary><incidentType>" + INCIDENT_TYPE_CSAM.encode() + b"</incidentType>"
            b"</incidentSummary><reporter><reportingPerson/></reporter></report>",
            4100,
        ),
        (
            b"<report><incidentSummary><incidentType>" + INCIDENT_TYPE_CSAM.encode() + b"</incidentType>"
            b"<incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary></report>",
            4100,
        ),
        (
            b"<report><reporter><reportingPerson/></reporter><incidentSummary><incidentType>"
            + INCIDENT_TYPE_CSAM.encode()
            + b"</incidentType><incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime>"
            b"</incidentSummary></report>",
            4100,
        ),
    ],
)
def test_bad_reports_are_rejected_and_not_retryable(
    client: CyberTiplineClient, body: bytes, code: int
) -> None:
    with pytest.raises(PartnerRejected) as caught:
        client.submit(body)
    assert caught.value.code == code
    assert not caught.value.retryable and caught.value.alert


def test_wrong_credentials_need_an_operator(fake: FakeCyberTipline) -> None:
    with (
        CyberTiplineClient(fake.url, USER, "wrong", timeout=2.0) as bad,
        pytest.raises(PartnerAuthError) as caught,
    ):
        bad.submit(report_xml())
    assert (caught.value.code, caught.value.retryable, caught.value.alert) == (2000, False, True)
    assert fake.reports == []


def test_an_unauthorized_user_needs_an_operator(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    fake.authorized = False
    with pytest.raises(PartnerAuthError) as caught:
        client.status()
    assert caught.value.code == 3100 and not caught.value.retryable


def test_out_of_order_calls(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    with pytest.raises(ReportNotFound) as missing:
        client.upload("999999", "x.jpg", b"x")
    assert missing.value.code == 5001 and not missing.value.retryable
    report_id = client.submit(report_xml())
    file_id, _ = client.upload(report_id, "x.jpg", b"x")
    with pytest.raises(PartnerRejected) as early:
        client.finish(report_id)  # file details are still missing
    assert early.value.code == 4000
    with pytest.raises(PartnerRejected) as stranger:
        client.file_info(report_id, "f" * 32, FileDetails().to_xml(report_id, "f" * 32))
    assert stranger.value.code == 4100
    client.file_info(report_id, file_id, FileDetails().to_xml(report_id, file_id))
    assert not client.finish(report_id).already_finished
    assert client.finish(report_id).already_finished  # 5102 means done
    with pytest.raises(ReportAlreadyFinished):
        client.retract(report_id)
    with pytest.raises(ReportAlreadyFinished):
        client.upload(report_id, "y.jpg", b"y")


def test_retract(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    report_id = client.submit(report_xml())
    assert not client.retract(report_id).already_retracted
    assert client.retract(report_id).already_retracted  # 5101
    assert fake.report(report_id).state == "retracted"
    with pytest.raises(ReportNotFound):
        client.retract("424242")


def test_an_expired_draft_no_longer_exists(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    report_id = client.submit(report_xml())
    fake.expire_drafts_now()
    with pytest.raises(ReportNotFound):
        client.upload(report_id, "x.jpg", b"x")


def test_an_idle_draft_expires_by_time() -> None:
    now = [1000.0]
    with (
        FakeCyberTipline(USER, PASSWORD, idle_ttl_s=3600, clock=lambda: now[0]) as fake,
        CyberTiplineClient(fake.url, USER, PASSWORD, timeout=2.0) as client,
    ):
        report_id = client.submit(report_xml())
        now[0] += 3601
        with pytest.raises(ReportNotFound):
            client.upload(report_id, "x.jpg", b"x")
        assert fake.report(report_id).state == "expired"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_outages_are_retryable(fake: FakeCyberTipline, client: CyberTiplineClient, status: int) -> None:
    fake.fail_next(1, status, body=b"<html>Service Unavailable</html>")
    with pytest.raises(PartnerUnavailable) as caught:
        client.submit(report_xml())
    assert caught.value.retryable and caught.value.http_status == status
    assert fake.reports == []


def test_code_1000_is_retryable(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    body = (
        b"<reportResponse><responseCode>1000</responseCode>"
        b"<responseDescription>err</responseDescription></reportResponse>"
    )
    fake.fail_next(1, 500, body=body)
    with pytest.raises(PartnerUnavailable) as caught:
        client.status()
    assert caught.value.code == 1000


def test_an_unreadable_success_is_a_retryable_protocol_error(
    fake: FakeCyberTipline, client: CyberTiplineClient
) -> None:
    fake.fail_next(1, 200, body=b"<html>captive portal</html>")
    with pytest.raises(PartnerProtocolError) as caught:
        client.status()
    assert caught.value.retryable


def test_an_undocumented_code_stops(fake: FakeCyberTipline, client: CyberTiplineClient) -> None:
    fake.fail_next(1, 200, body=b"<reportResponse><responseCode>7777</responseCode></reportResponse>")
    with pytest.raises(PartnerProtocolError) as caught:
        client.status()
    assert not caught.value.retryable and caught.value.alert


def test_a_hung_server_times_out_as_retryable(fake: FakeCyberTipline) -> None:
    fake.hang_next(1, 2.0)
    with (
        CyberTiplineClient(fake.url, USER, PASSWORD, timeout=0.3) as client,
        pytest.raises(PartnerUnavailable),
    ):
        client.status()


def test_environments_are_explicit_and_https() -> None:
    assert CyberTiplineEnvironment.TEST.base_url == "https://exttest.cybertip.org/ispws"
    assert CyberTiplineEnvironment.PRODUCTION.base_url == "https://report.cybertip.org/ispws"
    with CyberTiplineClient.for_environment(CyberTiplineEnvironment.TEST, "u", "p") as test_client:
        assert not test_client.is_production
    with CyberTiplineClient.for_environment(CyberTiplineEnvironment.PRODUCTION, "u", "p") as prod:
        assert prod.is_production
        assert "p'" not in repr(prod) and "password" not in repr(prod)
    with pytest.raises(ValueError, match="https"):
        CyberTiplineClient("http://report.cybertip.org/ispws", "u", "p")
    with pytest.raises(ValueError, match="password"):
        CyberTiplineClient("https://exttest.cybertip.org/ispws", "u", "")


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ("test", "", "https://exttest.cybertip.org/ispws"),
        ("production", "", "https://report.cybertip.org/ispws"),
        ("PRODUCTION", "https://report.cybertip.org/ispws/", "https://report.cybertip.org/ispws"),
        ("test", "http://127.0.0.1:8080/ispws", "http://127.0.0.1:8080/ispws"),
    ],
)
def test_settings_choose_the_host(environment: str, url: str, expected: str) -> None:
    settings = ReportingSettings(cybertipline_environment=environment, cybertipline_url=url)
    assert base_url_from_settings(settings) == expected


@pytest.mark.parametrize(
    ("environment", "url", "message"),
    [
        ("", "", "must be 'test' or 'production'"),
        ("prod", "", "must be 'test' or 'production'"),
        ("production", "http://127.0.0.1:8080/ispws", "only replace the test host"),
        ("test", "https://report.cybertip.org/ispws", "production host"),
    ],
)
def test_settings_keep_test_and_production_apart(environment: str, url: str, message: str) -> None:
    settings = ReportingSettings(cybertipline_environment=environment, cybertipline_url=url)
    with pytest.raises(ValueError, match=message):
        base_url_from_settings(settings)


def test_a_client_from_settings_talks_to_the_fake(fake: FakeCyberTipline) -> None:
    settings = ReportingSettings(
        cybertipline_environment="test",
        cybertipline_url=fake.url,
        cybertipline_username=USER,
        cybertipline_password=SecretStr(PASSWORD),
    )
    with client_from_settings(settings) as client:
        assert USER in client.status()
    with pytest.raises(ValueError, match="USERNAME"):
        client_from_settings(ReportingSettings(cybertipline_environment="test"))
