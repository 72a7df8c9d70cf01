"""A local CyberTipline (``/ispws``) that enforces the documented flow, for tests and demos.

Real HTTP on 127.0.0.1, Basic auth, XML answers with NCMEC's response codes:

* ``/submit`` parses the report: malformed XML (or a DOCTYPE) is 4110; a missing incident type,
  incident date/time or reporter, an unknown incident type or out-of-order sections are 4100;
* ``/upload`` (multipart ``id`` + ``file``) needs an open report; answers a file id and the MD5;
* ``/fileinfo`` needs a file uploaded to that report; ``/finish`` needs file details for every
  uploaded file (4000 otherwise); finishing twice is 5102; ``/retract`` works on open drafts only;
* a draft idle longer than ``idle_ttl_s`` or older than ``max_age_s`` is gone (5001), as NCMEC
  deletes unfinished reports.

``fail_next`` / ``hang_next`` (from ``BackgroundHTTPServer``) inject outages and timeouts;
``reports`` exposes everything received for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from reporting.partners.cybertipline.reportxml import INCIDENT_TYPE_CSAM
from reporting.testing.httpserver import BackgroundHTTPServer, Reply, Request

INCIDENT_TYPES = frozenset(
    {
        INCIDENT_TYPE_CSAM,
        "Child Sex Trafficking",
        "Child Sex Tourism",
        "Child Sexual Molestation",
        "Misleading Domain Name",
        "Misleading Words or Digital Images on the Internet",
        "Online Enticement of Children for Sexual Acts",
        "Unsolicited Obscene Material Sent to a Child",
    }
)
# The report's top-level sequence, in schema order.
REPORT_SECTIONS = (
    "incidentSummary",
    "internetDetails",
    "lawEnforcement",
    "reporter",
    "personOrUserReported",
    "intendedRecipient",
    "victim",
    "additionalInfo",
)
BOOLEAN_FIELDS = ("fileViewedByEsp", "exifViewedByEsp", "publiclyAvailable")


@dataclass
class FakeFile:
    file_id: str
    filename: str
    md5: str
    size: int
    details: ET.Element | None = None


@dataclass
class FakeReport:
    report_id: str
    xml: bytes
    root: ET.Element
    state: str = "open"  # open | finished | retracted | expired
    files: dict[str, FakeFile] = field(default_factory=dict)
    opened_at: float = 0.0
    changed_at: float = 0.0

    @property
    def urls(self) -> list[str]:
        return [(e.text or "") for e in self.root.iter("url")]


class _Answer(Exception):
    def __init__(self, code: int, description: str, http_status: int = 200) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.http_status = http_status


def _response(root_tag: str, code: int, description: str, **fields: str | list[str]) -> bytes:
    root = ET.Element(root_tag)
    ET.SubElement(root, "responseCode").text = str(code)
    if description:
        ET.SubElement(root, "responseDescription").text = description
    for name, value in fields.items():
        if isinstance(value, list):
            holder = ET.SubElement(root, "files")
            for item in value:
                ET.SubElement(holder, "fileId").text = item
        else:
            ET.SubElement(root, name).text = value
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _xml(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body.upper():
        raise _Answer(4110, "Malformed XML: DOCTYPE is not allowed")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise _Answer(4110, f"Malformed XML: {exc}") from None


def _form(request: Request) -> dict[str, tuple[str, bytes]]:
    """Fields of a urlencoded or multipart body: name -> (filename, value)."""
    content_type = request.header("content-type")
    if content_type.startswith("application/x-www-form-urlencoded"):
        parsed = parse_qs(request.body.decode("utf-8", "replace"))
        return {k: ("", v[0].encode()) for k, v in parsed.items()}
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + request.body)
        fields: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts() if message.is_multipart() else []:
            assert isinstance(part, Message)
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                filename = part.get_filename() or ""
                fields[name] = (filename, payload)
        return fields
    raise _Answer(4000, f"unsupported content type {content_type!r}")


class FakeCyberTipline(BackgroundHTTPServer):
    def __init__(
        self,
        username: str = "hashwatch-test",
        password: str = "test-password",
        *,
        idle_ttl_s: float = 3600.0,
        max_age_s: float = 86400.0,
        require_file_info: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self._password = password
        self.idle_ttl_s = idle_ttl_s
        self.max_age_s = max_age_s
        self.require_file_info = require_file_info
        # Set False to answer 3100 (user not authorized) to correctly authenticated calls.
        self.authorized = True
        self.clock = clock
        self._reports: dict[str, FakeReport] = {}
        self._ids = itertools.count(100001)
        self._state = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/ispws"

    # -- assertions ----------------------------------------------------------------------------

    @property
    def reports(self) -> list[FakeReport]:
        with self._state:
            self._expire()
            return list(self._reports.values())

    def finished_reports(self) -> list[FakeReport]:
        return [r for r in self.reports if r.state == "finished"]

    def report(self, report_id: str) -> FakeReport:
        with self._state:
            return self._reports[report_id]

    def expire_drafts_now(self) -> None:
        """Make every open draft disappear, as NCMEC's clean-up would."""
        with self._state:
            for report in self._reports.values():
                if report.state == "open":
                    report.state = "expired"

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        root_tag = "reportDoneResponse" if request.path.endswith("/finish") else "reportResponse"
        if not self._authenticated(request):
            body = _response("reportResponse", 2000, "Authentication required")
            return Reply(401, body, {"WWW-Authenticate": 'Basic realm="ispws"', "Content-Type": "text/xml"})
        if not self.authorized:
            return Reply(403, _response(root_tag, 3100, "User not authorized"), {"Content-Type": "text/xml"})
        routes: dict[tuple[str, str], Callable[[Request], bytes]] = {
            ("GET", "/ispws/status"): self._status,
            ("POST", "/ispws/submit"): self._submit,
            ("POST", "/ispws/upload"): self._upload,
            ("POST", "/ispws/fileinfo"): self._fileinfo,
            ("POST", "/ispws/finish"): self._finish,
            ("POST", "/ispws/retract"): self._retract,
        }
        route = routes.get((request.method, request.path.split("?", 1)[0]))
        if route is None:
            return Reply(404, _response(root_tag, 4000, "No such endpoint"), {"Content-Type": "text/xml"})
        try:
            with self._state:
                self._expire()
                body = route(request)
            return Reply(200, body, {"Content-Type": "text/xml"})
        except _Answer as answer:
            return Reply(
                answer.http_status,
                _response(root_tag, answer.code, answer.description),
                {"Content-Type": "text/xml"},
            )

    def _authenticated(self, request: Request) -> bool:
        header = request.header("authorization")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.username.encode()) and hmac.compare_digest(
            password.encode(), self._password.encode()
        )

    def _expire(self) -> None:
        now = self.clock()
        for report in self._reports.values():
            if report.state == "open" and (
                now - report.changed_at > self.idle_ttl_s or now - report.opened_at > self.max_age_s
            ):
                report.state = "expired"

    def _open_report(self, report_id: str) -> FakeReport:
        report = self._reports.get(report_id.strip())
        if report is None or report.state == "expired":
            raise _Answer(5001, "Report does not exist")
        if report.state == "retracted":
            raise _Answer(5101, "Report has already been retracted")
        if report.state == "finished":
            raise _Answer(5102, "Report has already been finished")
        return report

    # -- endpoints -----------------------------------------------------------------------------

    def _status(self, request: Request) -> bytes:
        return _response("reportResponse", 0, f"Remote User : {self.username}, Remote Ip : 127.0.0.1")

    def _submit(self, request: Request) -> bytes:
        root = _xml(request.body)
        if root.tag != "report":
            raise _Answer(4100, f"Validation failed: root element is {root.tag!r}, not 'report'")
        order = [REPORT_SECTIONS.index(c.tag) if c.tag in REPORT_SECTIONS else -1 for c in root]
        if -1 in order:
            unknown = [c.tag for c in root if c.tag not in REPORT_SECTIONS]
            raise _Answer(4100, f"Validation failed: unknown element(s) {unknown}")
        if order != sorted(order):
            raise _Answer(4100, "Validation failed: report sections out of schema order")
        incident_type = (root.findtext("incidentSummary/incidentType") or "").strip()
        if not incident_type:
            raise _Answer(4100, "Validation failed: incidentSummary/incidentType is required")
        if incident_type not in INCIDENT_TYPES:
            raise _Answer(4100, f"Validation failed: unknown incidentType {incident_type!r}")
        when = (root.findtext("incidentSummary/incidentDateTime") or "").strip()
        try:
            parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise _Answer(4100, "Validation failed: incidentSummary/incidentDateTime is required") from None
        if parsed.tzinfo is None:
            raise _Answer(4100, "Validation failed: incidentDateTime needs a time zone")
        if root.find("reporter/reportingPerson") is None:
            raise _Answer(4100, "Validation failed: reporter/reportingPerson is required")
        report_id = str(next(self._ids))
        now = self.clock()
        self._reports[report_id] = FakeReport(report_id, request.body, root, opened_at=now, changed_at=now)
        return _response("reportResponse", 0, "Success", reportId=report_id)

    def _upload(self, request: Request) -> bytes:
        fields = _form(request)
        if "id" not in fields or "file" not in fields:
            raise _Answer(4000, "Invalid request: multipart 'id' and 'file' are required")
        report = self._open_report(fields["id"][1].decode())
        filename, content = fields["file"]
        file_id = uuid.uuid4().hex
        md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
        report.files[file_id] = FakeFile(file_id, filename, md5, len(content))
        report.changed_at = self.clock()
        return _response("reportResponse", 0, "Success", reportId=report.report_id, fileId=file_id, hash=md5)

    def _fileinfo(self, request: Request) -> bytes:
        root = _xml(request.body)
        if root.tag != "fileDetails":
            raise _Answer(4100, f"Validation failed: root element is {root.tag!r}, not 'fileDetails'")
        report_id = (root.findtext("reportId") or "").strip()
        file_id = (root.findtext("fileId") or "").strip()
        if not report_id or not file_id:
            raise _Answer(4100, "Validation failed: reportId and fileId are required")
        report = self._open_report(report_id)
        if file_id not in report.files:
            raise _Answer(4100, f"Validation failed: file {file_id} is not part of report {report_id}")
        for name in BOOLEAN_FIELDS:
            value = root.findtext(name)
            if value is not None and value not in ("true", "false"):
                raise _Answer(4100, f"Validation failed: {name} must be true or false")
        for element in root.iter("originalFileHash"):
            if element.get("hashType") not in ("MD5", "SHA1", "SHA256", "PDNA", "PDQ"):
                raise _Answer(4100, "Validation failed: originalFileHash needs a known hashType")
        report.files[file_id].details = root
        report.changed_at = self.clock()
        return _response("reportResponse", 0, "Success", reportId=report_id)

    def _finish(self, request: Request) -> bytes:
        fields = _form(request)
        if "id" not in fields:
            raise _Answer(4000, "Invalid request: 'id' is required")
        report = self._open_report(fields["id"][1].decode())
        missing = [f.file_id for f in report.files.values() if f.details is None]
        if self.require_file_info and missing:
            raise _Answer(4000, f"Invalid request: file details missing for {missing}")
        report.state = "finished"
        return _response("reportDoneResponse", 0, "", reportId=report.report_id, files=list(report.files))

    def _retract(self, request: Request) -> bytes:
        fields = _form(request)
        if "id" not in fields:
            raise _Answer(4000, "Invalid request: 'id' is required")
        report = self._open_report(fields["id"][1].decode())
        report.state = "retracted"
        return _response("reportResponse", 0, "Success", reportId=report.report_id)
