"""NCMEC CyberTipline: the API client, the report XML builders, and the resumable filing flow."""

from reporting.partners.cybertipline.client import (
    CyberTiplineClient,
    CyberTiplineEnvironment,
    FinishResult,
    RetractResult,
    UploadResult,
)
from reporting.partners.cybertipline.config import base_url_from_settings, client_from_settings
from reporting.partners.cybertipline.errors import (
    PartnerAuthError,
    PartnerError,
    PartnerProtocolError,
    PartnerRejected,
    PartnerUnavailable,
    ReportAlreadyFinished,
    ReportAlreadyRetracted,
    ReportNotBuildable,
    ReportNotFound,
    ResponseCode,
)
from reporting.partners.cybertipline.flow import (
    ReportRestartLimit,
    ReportState,
    ReportStep,
    abandon_report,
    file_report,
)
from reporting.partners.cybertipline.reportxml import (
    INCIDENT_TYPE_CSAM,
    FileDetails,
    IpCapture,
    Reporter,
    build_report_xml,
    reportable_url,
)

__all__ = [
    "INCIDENT_TYPE_CSAM",
    "CyberTiplineClient",
    "CyberTiplineEnvironment",
    "FileDetails",
    "FinishResult",
    "IpCapture",
    "PartnerAuthError",
    "PartnerError",
    "PartnerProtocolError",
    "PartnerRejected",
    "PartnerUnavailable",
    "ReportAlreadyFinished",
    "ReportAlreadyRetracted",
    "ReportNotBuildable",
    "ReportNotFound",
    "ReportRestartLimit",
    "ReportState",
    "ReportStep",
    "Reporter",
    "ResponseCode",
    "RetractResult",
    "UploadResult",
    "abandon_report",
    "base_url_from_settings",
    "build_report_xml",
    "client_from_settings",
    "file_report",
    "reportable_url",
]
