"""An HTTP client for NCMEC's CyberTipline reporting API (``/ispws``).

One method per documented endpoint; each either returns a typed result or raises one of the
``errors`` tree. The environment is never defaulted: a caller names TEST or PRODUCTION (or gives
a base URL, which must be HTTPS unless it is a loopback address such as a local fake server).
"""

from __future__ import annotations

import hashlib
import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import NamedTuple, Self
from urllib.parse import urlsplit

import httpx

from reporting.destinations.secret import Secret
from reporting.http.client import Outbound, Receiver, Refused, SendFailed, TimedOut
from reporting.partners.cybertipline.errors import (
    PartnerAuthError,
    PartnerError,
    PartnerProtocolError,
    PartnerUnavailable,
    ReportAlreadyFinished,
    ReportAlreadyRetracted,
    ResponseCode,
    error_for_code,
)

MAX_RESPONSE_BYTES = 1024 * 1024


class CyberTiplineEnvironment(Enum):
    TEST = "https://exttest.cybertip.org/ispws"
    PRODUCTION = "https://report.cybertip.org/ispws"

    @property
    def base_url(self) -> str:
        return self.value


class UploadResult(NamedTuple):
    file_id: str
    md5: str


@dataclass(frozen=True)
class FinishResult:
    report_id: str
    file_ids: tuple[str, ...]
    # True when NCMEC said 5102: a finish we sent earlier had already gone through.
    already_finished: bool = False


@dataclass(frozen=True)
class RetractResult:
    report_id: str
    already_retracted: bool = False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return base_url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return base_url.rstrip("/")
    raise ValueError(
        f"the CyberTipline base URL must be https (or http to a loopback test server): {base_url!r}"
    )


def _parse(body: bytes) -> ET.Element | None:
    if len(body) > MAX_RESPONSE_BYTES or b"<!DOCTYPE" in body[:4096].upper():
        return None
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


class CyberTiplineClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: Secret | str,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        if not username:
            raise ValueError("a CyberTipline username is required")
        secret = password if isinstance(password, Secret) else Secret(password)
        if not secret:
            raise ValueError("a CyberTipline password is required")
        self.username = username
        # Through the one outbound client: no environment proxy, no redirects, an answer read
        # no further than one byte past what is parsed. The host is NCMEC's or the operator's
        # own test host (which may be private); an upload may be large, so only each wait is
        # timed, not the exchange as a whole.
        receiver = Receiver(
            "CyberTipline",
            timeout,
            timeout_whole=False,
            allow_private=True,
            answer_bytes=MAX_RESPONSE_BYTES + 1,
        )
        self._http = Outbound(
            receiver, base_url=self.base_url, auth=httpx.BasicAuth(username, secret.reveal())
        )

    @classmethod
    def for_environment(
        cls,
        environment: CyberTiplineEnvironment,
        username: str,
        password: Secret | str,
        timeout: float = 30.0,
    ) -> CyberTiplineClient:
        return cls(environment.base_url, username, password, timeout)

    @property
    def is_production(self) -> bool:
        return self.base_url == CyberTiplineEnvironment.PRODUCTION.base_url

    def __repr__(self) -> str:
        return f"CyberTiplineClient({self.base_url!r}, username={self.username!r})"

    # -- endpoints ---------------------------------------------------------------------------

    def status(self) -> str:
        """Checks the credentials; returns NCMEC's description (user and source IP)."""
        root = self._call("GET", "/status", what="status")
        return (root.findtext("responseDescription") or "").strip()

    def submit(self, report_xml: bytes) -> str:
        """Opens a report; returns its report id. The report is a draft until ``finish``."""
        root = self._call(
            "POST",
            "/submit",
            what="submit",
            content=report_xml,
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
        return self._required(root, "reportId", "submit")

    def upload(self, report_id: str, filename: str, content: bytes) -> UploadResult:
        """Uploads one file to an open report; checks NCMEC's MD5 against ours."""
        root = self._call(
            "POST",
            "/upload",
            what="upload",
            data={"id": report_id},
            files={"file": (filename, content, "application/octet-stream")},
        )
        file_id = self._required(root, "fileId", "upload")
        md5 = (root.findtext("hash") or "").strip().lower()
        ours = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if md5 and md5 != ours:
            raise PartnerProtocolError(
                f"CyberTipline upload: NCMEC's MD5 {md5} is not the file's {ours}", retryable=False
            )
        return UploadResult(file_id, md5 or ours)

    def file_info(self, report_id: str, file_id: str, details_xml: bytes) -> None:
        """Sends the ``fileDetails`` of an uploaded file; its ids must be these."""
        details = _parse(details_xml)
        if (
            details is None
            or details.findtext("reportId") != report_id
            or details.findtext("fileId") != file_id
        ):
            raise ValueError("details_xml must be a fileDetails document for this report and file")
        self._call(
            "POST",
            "/fileinfo",
            what="fileinfo",
            content=details_xml,
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )

    def finish(self, report_id: str) -> FinishResult:
        """Files the report. A 5102 (already finished) means an earlier finish went through."""
        try:
            root = self._call("POST", "/finish", what="finish", data={"id": report_id})
        except ReportAlreadyFinished:
            return FinishResult(report_id, (), already_finished=True)
        files = tuple((e.text or "").strip() for e in root.iter("fileId"))
        return FinishResult((root.findtext("reportId") or report_id).strip(), files)

    def retract(self, report_id: str) -> RetractResult:
        """Cancels an unfinished report. A finished one cannot be retracted (5102 raises)."""
        try:
            self._call("POST", "/retract", what="retract", data={"id": report_id})
        except ReportAlreadyRetracted:
            return RetractResult(report_id, already_retracted=True)
        return RetractResult(report_id)

    # -- plumbing ----------------------------------------------------------------------------

    def _required(self, root: ET.Element, name: str, what: str) -> str:
        value = (root.findtext(name) or "").strip()
        if not value:
            raise PartnerProtocolError(f"CyberTipline {what}: the answer has no {name}", retryable=True)
        return value

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        content: bytes | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ET.Element:
        try:
            answer = self._http.request(
                method, path, content=content, data=data, files=files, headers=headers
            )
        except Refused as exc:
            raise PartnerProtocolError(f"CyberTipline {what}: {exc}", retryable=False) from exc
        except SendFailed as exc:
            if not exc.sent:
                raise PartnerUnavailable(
                    f"CyberTipline {what}: cannot connect ({exc.error})", request_sent=False
                ) from exc
            if isinstance(exc, TimedOut):
                raise PartnerUnavailable(f"CyberTipline {what}: timed out ({exc.error})") from exc
            raise PartnerUnavailable(f"CyberTipline {what}: {exc.error}: {exc.reason}") from exc
        status = answer.status
        root = _parse(answer.body)
        code_text = root.findtext("responseCode") if root is not None else None
        if root is None or code_text is None or not code_text.strip().lstrip("-").isdigit():
            raise self._unreadable(status, what)
        code = int(code_text)
        if code != ResponseCode.SUCCESS:
            description = (root.findtext("responseDescription") or "").strip()
            raise error_for_code(code, description, status, what)
        if not 200 <= status < 300:
            raise PartnerProtocolError(
                f"CyberTipline {what}: HTTP {status} with response code 0",
                retryable=status >= 500,
                http_status=status,
            )
        return root

    @staticmethod
    def _unreadable(status: int, what: str) -> PartnerError:
        if status in (401, 403):
            return PartnerAuthError(f"CyberTipline {what}: HTTP {status}", http_status=status)
        if status == 429 or status >= 500:
            return PartnerUnavailable(f"CyberTipline {what}: HTTP {status}", http_status=status)
        # A 2xx/4xx we cannot read: likely a proxy page; a retry is safe for every step.
        return PartnerProtocolError(
            f"CyberTipline {what}: HTTP {status} without a readable reportResponse",
            retryable=200 <= status < 300,
            http_status=status,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
