"""Choosing the CyberTipline host and credentials from settings, keeping test and production apart.

* ``HASHWATCH_CYBERTIPLINE_ENVIRONMENT`` must say ``test`` or ``production``; nothing else is
  guessed.
* ``HASHWATCH_CYBERTIPLINE_URL`` (a local fake partner, a test proxy) may replace the *test* host
  only. In production the URL is always NCMEC's, and a test URL that points at the production
  host is refused, so test credentials and test reports cannot reach production by accident.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from reporting.partners.cybertipline.client import CyberTiplineClient, CyberTiplineEnvironment

PRODUCTION_HOST = urlsplit(CyberTiplineEnvironment.PRODUCTION.base_url).hostname


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class CyberTiplineSettingsSource(Protocol):
    """Anything with the ``cybertipline_*`` fields of the reporting settings."""

    @property
    def cybertipline_environment(self) -> str: ...
    @property
    def cybertipline_url(self) -> str: ...
    @property
    def cybertipline_username(self) -> str: ...
    @property
    def cybertipline_password(self) -> _SecretLike | str: ...
    @property
    def http_timeout_seconds(self) -> float: ...


def base_url_from_settings(settings: CyberTiplineSettingsSource) -> str:
    environment = settings.cybertipline_environment.strip().lower()
    if environment not in ("test", "production"):
        raise ValueError("HASHWATCH_CYBERTIPLINE_ENVIRONMENT must be 'test' or 'production'")
    override = settings.cybertipline_url.strip()
    if environment == "production":
        if override and override.rstrip("/") != CyberTiplineEnvironment.PRODUCTION.base_url:
            raise ValueError(
                "HASHWATCH_CYBERTIPLINE_URL may only replace the test host; "
                "production always uses " + CyberTiplineEnvironment.PRODUCTION.base_url
            )
        return CyberTiplineEnvironment.PRODUCTION.base_url
    if override:
        if urlsplit(override).hostname == PRODUCTION_HOST:
            raise ValueError(
                "HASHWATCH_CYBERTIPLINE_URL points at the production host while the environment is 'test'"
            )
        return override
    return CyberTiplineEnvironment.TEST.base_url


def client_from_settings(settings: CyberTiplineSettingsSource) -> CyberTiplineClient:
    """A client for the configured environment; ``ValueError`` names what is missing or wrong."""
    password = settings.cybertipline_password
    plain = password if isinstance(password, str) else password.get_secret_value()
    if not settings.cybertipline_username or not plain:
        raise ValueError("HASHWATCH_CYBERTIPLINE_USERNAME and HASHWATCH_CYBERTIPLINE_PASSWORD are required")
    return CyberTiplineClient(
        base_url_from_settings(settings),
        settings.cybertipline_username,
        plain,
        settings.http_timeout_seconds,
    )
