"""Settings of the reporting side: SMTP, partner credentials, evidence, the outbox worker.

Read from ``HASHWATCH_*`` environment variables like the service's own settings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReportingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HASHWATCH_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    # none | starttls | tls (implicit TLS, usually port 465)
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "hashwatch@localhost"
    smtp_timeout_seconds: Annotated[float, Field(gt=0)] = 15.0

    # CyberTipline: "test" or "production"; production must be chosen explicitly.
    cybertipline_environment: str = "test"
    # Overrides the environment's URL (for a local fake partner server in tests).
    cybertipline_url: str = ""
    cybertipline_username: str = ""
    cybertipline_password: SecretStr = SecretStr("")
    # The person named as reporter on every report.
    reporter_first_name: str = ""
    reporter_last_name: str = ""
    reporter_email: str = ""
    reporter_phone: str = ""

    # Partners that take a JSON report over HTTPS, by name, e.g.
    # {"iwf": {"url": "https://…", "secret": "…"}}; a list policy's `partner` names one of them.
    partner_webhooks: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # base64 of 32 random bytes; empty: a key file in the data dir, created on first use.
    evidence_key: SecretStr = SecretStr("")
    evidence_days: Annotated[int, Field(ge=1)] = 365
    # base64 of 32 random bytes (reporting/keys.py): seals stored secrets and signs audit
    # anchors; empty: a key file in the data dir, created on first use.
    secrets_key: SecretStr = SecretStr("")

    # Outbox worker.
    worker_poll_seconds: Annotated[float, Field(gt=0)] = 1.0
    worker_lease_seconds: Annotated[float, Field(gt=0)] = 120.0
    worker_max_attempts: Annotated[int, Field(ge=1)] = 12
    worker_backoff_base_seconds: Annotated[float, Field(gt=0)] = 2.0
    worker_backoff_max_seconds: Annotated[float, Field(gt=0)] = 3600.0
    http_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # Seconds between digest emails (default daily).
    digest_period_seconds: Annotated[float, Field(gt=0)] = 86400.0
    # Verification emails (Customers.SetEmail) allowed per sliding window: per partner, per
    # caller, and per address from one partner (reporting/customers/mail_limits.py).
    verify_mail_window_seconds: Annotated[float, Field(gt=0)] = 3600.0
    verify_mails_per_partner: Annotated[int, Field(ge=1)] = 20
    verify_mails_per_caller: Annotated[int, Field(ge=1)] = 20
    verify_mails_per_address: Annotated[int, Field(ge=1)] = 3
    # Optional URL that applies a block at the edge (e.g. a CDN purge/deny hook). Without it a
    # block is active as soon as it is recorded: the edge learns of it from Scan and Blocks.
    block_hook_url: str = ""
