"""The SMTP side of email: the server settings, and sending one message.

Credentials go only over TLS; certificates are always checked. ``send_message`` never raises for
SMTP or network trouble: an SMTP 4xx, a dropped connection or a timeout is retried, a 5xx, an
authentication failure, an untrusted certificate or a missing STARTTLS is not.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Protocol

from reporting.destinations.secret import Secret
from reporting.events import DeliveryResult

SECURITIES = ("none", "starttls", "tls")


class _SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class SmtpSettingsSource(Protocol):
    """Anything with the ``smtp_*`` fields of the reporting settings."""

    @property
    def smtp_host(self) -> str: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_security(self) -> str: ...
    @property
    def smtp_username(self) -> str: ...
    @property
    def smtp_password(self) -> _SecretLike | str: ...
    @property
    def smtp_from(self) -> str: ...
    @property
    def smtp_timeout_seconds(self) -> float: ...


def check_address(value: str, what: str, *, dotted: bool = True) -> str:
    value = value.strip()
    plain = not any(ch in value for ch in "\r\n<>,;\"'()[]\\ ") and value.count("@") == 1
    if plain:
        local, domain = value.split("@")
        labels = domain.split(".")
        plain = bool(local) and all(labels) and (len(labels) > 1 or not dotted)
    if plain:
        try:
            plain = Address(addr_spec=value).addr_spec == value
        except (ValueError, HeaderParseError):
            plain = False
    if not plain:
        raise ValueError(f"{what} {value!r} is not a plain email address")
    return value


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    security: str = "none"
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    from_addr: str = "hashwatch@localhost.localdomain"
    timeout_s: float = 15.0
    # A CA bundle to trust instead of the system's (a private relay, or a test server).
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("HASHWATCH_SMTP_HOST is empty")
        if not 0 < self.port < 65536:
            raise ValueError("HASHWATCH_SMTP_PORT must be 1..65535")
        if self.security not in SECURITIES:
            raise ValueError(f"HASHWATCH_SMTP_SECURITY must be one of {', '.join(SECURITIES)}")
        if self.username and self.security == "none":
            raise ValueError("SMTP credentials are only sent over TLS: set HASHWATCH_SMTP_SECURITY")
        # A sender at a single-label domain (hashwatch@localhost) is normal for a local relay.
        check_address(self.from_addr, "HASHWATCH_SMTP_FROM", dotted=False)

    @classmethod
    def from_settings(cls, settings: SmtpSettingsSource) -> SmtpSettings:
        password = settings.smtp_password
        plain = password if isinstance(password, str) else password.get_secret_value()
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=Secret(plain),
            from_addr=settings.smtp_from,
            timeout_s=settings.smtp_timeout_seconds,
            ca_file=getattr(settings, "smtp_ca_file", None) or None,
        )

    @property
    def message_id_domain(self) -> str:
        return self.from_addr.rsplit("@", 1)[1]


def _by_code(code: int, detail: str) -> DeliveryResult:
    # SMTP: 4xx is a transient refusal, 5xx a permanent one.
    if 400 <= code < 500:
        return DeliveryResult.retry(detail)
    return DeliveryResult.failure(detail)


def send_message(smtp: SmtpSettings, message: EmailMessage, recipients: list[str]) -> DeliveryResult:
    """Send once; never raises for SMTP or network trouble."""
    context = ssl.create_default_context(cafile=smtp.ca_file)
    client: smtplib.SMTP | None = None
    sent = False
    try:
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, smtp.password.reveal())
        refused = client.send_message(message, from_addr=smtp.from_addr, to_addrs=recipients)
        sent = True
        detail = f"accepted by {smtp.host}:{smtp.port} as {message['Message-ID']}"
        if refused:
            # Some recipients took it: a retry would send them a duplicate, so this counts as sent.
            detail += f"; refused for {sorted(refused)}"
        return DeliveryResult.success(detail, str(message["Message-ID"]))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = f"all recipients refused: {_codes(exc.recipients)}"
        return (
            DeliveryResult.retry(detail)
            if any(400 <= c < 500 for c in codes)
            else DeliveryResult.failure(detail)
        )
    except smtplib.SMTPAuthenticationError as exc:
        return DeliveryResult.failure(f"SMTP authentication failed ({exc.smtp_code})")
    except smtplib.SMTPNotSupportedError as exc:
        return DeliveryResult.failure(f"SMTP server does not support what is configured: {exc}")
    except smtplib.SMTPResponseException as exc:
        return _by_code(exc.smtp_code, f"SMTP server answered {exc.smtp_code}: {_text(exc.smtp_error)}")
    except ssl.SSLCertVerificationError as exc:
        return DeliveryResult.failure(f"SMTP server certificate not trusted: {exc.verify_message}")
    except (smtplib.SMTPException, OSError) as exc:
        return DeliveryResult.retry(f"SMTP {type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            _close(client, polite=sent)


def _close(client: smtplib.SMTP, polite: bool) -> None:
    try:
        if polite:
            client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def _text(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)[:200]


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in sorted(recipients.items()))
