"""Building the two XML documents NCMEC takes: the ``report`` and a file's ``fileDetails``.

Built with ElementTree, never by string concatenation, so a URL or a name cannot break out of
its element. Only fields hashwatch actually has are offered; element order follows NCMEC's
schema (its sequences are ordered).

ElementTree writes any character it is given, so a control character would make a document no
XML parser reads (NCMEC answers 4110, and the report can never be filed). Every text goes through
``_text``, which refuses (``ReportNotBuildable``) what XML 1.0 cannot carry. A recorded URL is
first made reportable (``reportable_url``): matches recorded before such characters were refused
at the edge may hold them, and a report that can never be filed is the worst outcome, so the
URL is filed with those characters percent-encoded and the report says so.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from index.text import not_xml_character, refused_characters
from reporting.events import format_time
from reporting.partners.cybertipline.errors import ReportNotBuildable

XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = "https://report.cybertip.org/ispws/xsd"
INCIDENT_TYPE_CSAM = "Child Pornography (possession, manufacture, and distribution)"
FILE_RELEVANCE = ("Reported", "Supplemental Reported")
INDUSTRY_CLASSIFICATIONS = ("A1", "A2", "B1", "B2")
HASH_TYPES = ("MD5", "SHA1")


@dataclass(frozen=True)
class Reporter:
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    terms_of_service: str = ""


@dataclass(frozen=True)
class IpCapture:
    ip_address: str
    event_name: str  # e.g. "Upload", "Login"
    date_time: datetime | None = None
    port: int | None = None
    possible_proxy: bool | None = None


def reportable_url(url: str) -> tuple[str, str]:
    """``url`` with every character hashwatch no longer stores (``index.text``: controls, lone
    surrogates, U+FFFE/U+FFFF) percent-encoded as its UTF-8 bytes, as a browser would send it,
    and a note for the report's ``additionalInfo`` saying what was changed ("" if nothing)."""
    refused = list(refused_characters(url))
    if not refused:
        return url, ""
    encoded = {
        r.character: "".join(f"%{b:02X}" for b in r.character.encode("utf-8", "surrogatepass"))
        for r in refused
    }
    changed = [f"{r.code_point} at character {r.position + 1} as {encoded[r.character]}" for r in refused]
    more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
    note = (
        "The recorded URL contains characters a report cannot carry; they are written "
        f"percent-encoded here: {', '.join(changed[:10])}{more}. The URL as recorded is kept "
        "with the case."
    )
    return "".join(encoded.get(ch, ch) for ch in url), note


def _text(parent: ET.Element, tag: str, value: str | None) -> ET.Element | None:
    if value is None or value == "":
        return None
    refused = not_xml_character(value)
    if refused is not None:
        raise ReportNotBuildable(f"the report's {tag} holds {refused}, which XML 1.0 cannot carry")
    element = ET.SubElement(parent, tag)
    element.text = value
    return element


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _root(tag: str) -> ET.Element:
    ET.register_namespace("xsi", XSI)
    root = ET.Element(tag)
    root.set(f"{{{XSI}}}noNamespaceSchemaLocation", SCHEMA_LOCATION)
    return root


def _ip_capture(parent: ET.Element, capture: IpCapture) -> None:
    element = ET.SubElement(parent, "ipCaptureEvent")
    _text(element, "ipAddress", capture.ip_address)
    _text(element, "eventName", capture.event_name)
    if capture.date_time is not None:
        _text(element, "dateTime", format_time(capture.date_time))
    if capture.possible_proxy is not None:
        _text(element, "possibleProxy", _bool(capture.possible_proxy))
    if capture.port is not None:
        _text(element, "port", str(capture.port))


def _serialise(root: ET.Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def build_report_xml(
    *,
    incident_time: datetime,
    urls: Sequence[str],
    reporter: Reporter,
    incident_type: str = INCIDENT_TYPE_CSAM,
    third_party_hosted: bool | None = None,
    reported_ip_captures: Sequence[IpCapture] = (),
    additional_info: str = "",
) -> bytes:
    """The ``report`` document for one case: where the content was, when, and who reports it."""
    if incident_time.tzinfo is None:
        raise ValueError("incident_time must be timezone-aware")
    root = _root("report")
    summary = ET.SubElement(root, "incidentSummary")
    _text(summary, "incidentType", incident_type)
    _text(summary, "incidentDateTime", format_time(incident_time))
    if urls:
        details = ET.SubElement(root, "internetDetails")
        page = ET.SubElement(details, "webPageIncident")
        if third_party_hosted is not None:
            page.set("thirdPartyHostedContent", _bool(third_party_hosted))
        for url in urls:
            _text(page, "url", url)
    reporting = ET.SubElement(root, "reporter")
    person = ET.SubElement(reporting, "reportingPerson")
    _text(person, "firstName", reporter.first_name)
    _text(person, "lastName", reporter.last_name)
    _text(person, "phone", reporter.phone)
    _text(person, "email", reporter.email)
    _text(reporting, "termsOfService", reporter.terms_of_service)
    if reported_ip_captures:
        reported = ET.SubElement(root, "personOrUserReported")
        for capture in reported_ip_captures:
            _ip_capture(reported, capture)
    _text(root, "additionalInfo", additional_info)
    return _serialise(root)


@dataclass(frozen=True)
class FileDetails:
    """What we know about the reported file. ``file_viewed_by_esp`` must be true only if a
    person at the operator looked at it; a hash match alone is not a view."""

    original_file_name: str = ""
    location_of_file: str = ""
    file_viewed_by_esp: bool = False
    exif_viewed_by_esp: bool = False
    publicly_available: bool | None = None
    file_relevance: str = "Reported"
    industry_classification: str = ""
    original_md5: str = ""
    ip_capture: IpCapture | None = None
    # Matching hashes (e.g. {"PDQ": "<hex>"}) listed as details of type HASH.
    hashes: Mapping[str, str] = field(default_factory=dict)
    additional_info: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.file_relevance not in FILE_RELEVANCE:
            raise ValueError(f"file_relevance must be one of {FILE_RELEVANCE}")
        if self.industry_classification and self.industry_classification not in INDUSTRY_CLASSIFICATIONS:
            raise ValueError(f"industry_classification must be one of {INDUSTRY_CLASSIFICATIONS}")
        if self.original_md5 and (len(self.original_md5) != 32 or not _is_hex(self.original_md5)):
            raise ValueError("original_md5 must be 32 hex characters")

    def to_xml(self, report_id: str, file_id: str) -> bytes:
        root = _root("fileDetails")
        _text(root, "reportId", report_id)
        _text(root, "fileId", file_id)
        _text(root, "originalFileName", self.original_file_name)
        _text(root, "locationOfFile", self.location_of_file)
        _text(root, "fileViewedByEsp", _bool(self.file_viewed_by_esp))
        _text(root, "exifViewedByEsp", _bool(self.exif_viewed_by_esp))
        if self.publicly_available is not None:
            _text(root, "publiclyAvailable", _bool(self.publicly_available))
        _text(root, "fileRelevance", self.file_relevance)
        _text(root, "industryClassification", self.industry_classification)
        if self.original_md5:
            element = _text(root, "originalFileHash", self.original_md5.lower())
            assert element is not None
            element.set("hashType", "MD5")
        if self.ip_capture is not None:
            _ip_capture(root, self.ip_capture)
        if self.hashes:
            details = ET.SubElement(root, "details")
            details.set("type", "HASH")
            for name, value in sorted(self.hashes.items()):
                pair = ET.SubElement(details, "nameValuePair")
                _text(pair, "name", name)
                _text(pair, "value", value)
        for info in self.additional_info:
            _text(root, "additionalInfo", info)
        return _serialise(root)


def _is_hex(value: str) -> bool:
    try:
        int(value, 16)
    except ValueError:
        return False
    return True
