"""The CyberTipline response codes and the one exception tree they map to.

::

    PartnerError (retryable: bool, alert: bool, code, http_status)
    ├── PartnerUnavailable       1000, HTTP 429/5xx, timeouts, connection errors   retry
    ├── PartnerProtocolError     an answer we cannot read or did not expect        see flag
    ├── PartnerAuthError         2000, 3000, 3100, HTTP 401/403                    alert
    ├── PartnerRejected          4000, 4100, 4110: our report is wrong             alert
    │   └── ReportNotBuildable   a value XML 1.0 cannot carry; nothing was sent    alert
    ├── ReportNotFound           5001: no such report (or the draft expired)
    ├── ReportAlreadyRetracted   5101
    └── ReportAlreadyFinished    5102
"""

from __future__ import annotations

from enum import IntEnum


class ResponseCode(IntEnum):
    SUCCESS = 0
    SERVER_ERROR = 1000
    AUTHENTICATION_REQUIRED = 2000
    NOT_AUTHORIZED = 3000
    USER_NOT_AUTHORIZED = 3100
    INVALID_REQUEST = 4000
    VALIDATION_FAILED = 4100
    MALFORMED_XML = 4110
    REPORT_NOT_FOUND = 5001
    ALREADY_RETRACTED = 5101
    ALREADY_FINISHED = 5102


class PartnerError(Exception):
    """A partner call that did not succeed. ``retryable``: the same call may succeed later.
    ``alert``: an operator must act (credentials, permissions, or a report we built wrong)."""

    retryable = False
    alert = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        # False only when the request certainly never reached NCMEC (the connection failed).
        self.request_sent = request_sent


class PartnerUnavailable(PartnerError):
    retryable = True


class PartnerProtocolError(PartnerError):
    alert = True

    def __init__(
        self, message: str, *, retryable: bool, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(message, code=code, http_status=http_status)
        self.retryable = retryable


class PartnerAuthError(PartnerError):
    alert = True


class PartnerRejected(PartnerError):
    alert = True


class ReportNotBuildable(PartnerRejected):
    """A report document could not be built: a value holds a character XML 1.0 cannot carry.
    Permanent for this report (the value will not change by itself); an operator must act."""

    def __init__(self, message: str) -> None:
        super().__init__(message, request_sent=False)


class ReportNotFound(PartnerError):
    pass


class ReportAlreadyRetracted(PartnerError):
    pass


class ReportAlreadyFinished(PartnerError):
    pass


_BY_CODE: dict[int, type[PartnerError]] = {
    ResponseCode.SERVER_ERROR: PartnerUnavailable,
    ResponseCode.AUTHENTICATION_REQUIRED: PartnerAuthError,
    ResponseCode.NOT_AUTHORIZED: PartnerAuthError,
    ResponseCode.USER_NOT_AUTHORIZED: PartnerAuthError,
    ResponseCode.INVALID_REQUEST: PartnerRejected,
    ResponseCode.VALIDATION_FAILED: PartnerRejected,
    ResponseCode.MALFORMED_XML: PartnerRejected,
    ResponseCode.REPORT_NOT_FOUND: ReportNotFound,
    ResponseCode.ALREADY_RETRACTED: ReportAlreadyRetracted,
    ResponseCode.ALREADY_FINISHED: ReportAlreadyFinished,
}


def error_for_code(code: int, description: str, http_status: int, what: str) -> PartnerError:
    kind = _BY_CODE.get(code)
    message = f"CyberTipline {what}: {code} {description}".strip()
    if kind is None:
        # A code the documentation does not list: stop and let a person look.
        return PartnerProtocolError(
            f"{message} (undocumented code)", retryable=False, code=code, http_status=http_status
        )
    return kind(message, code=code, http_status=http_status)
