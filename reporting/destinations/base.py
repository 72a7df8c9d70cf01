"""The one interface the outbox worker sees, and the factory that builds it from stored JSON.

The CLI stores a destination's config as JSON; ``build_destination`` is the single place that
turns it back into a validated client, with a clear ``DestinationConfigError`` when it cannot.
Unknown keys are refused (a typo must not silently drop, say, ``allow_private: false``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from index.text import refused_character
from reporting.destinations.email import EmailConfig, EmailDestination, SmtpSettings, SmtpSettingsSource
from reporting.destinations.pagerduty import EVENTS_URL, PagerDutyConfig, PagerDutyDestination
from reporting.destinations.secret import Secret
from reporting.destinations.webhook import WebhookConfig, WebhookDestination
from reporting.events import DeliveryResult, Event

KINDS = ("email", "webhook", "pagerduty")
# Keys whose values are secrets: never echoed by ``redact_config``.
SECRET_KEYS = frozenset({"secret", "routing_key"})
DEFAULT_HTTP_TIMEOUT_S = 10.0


class DestinationConfigError(ValueError):
    """A stored or given destination config that cannot be used; the message is for the operator."""


@runtime_checkable
class Destination(Protocol):
    kind: str

    def deliver(self, event: Event) -> DeliveryResult: ...


class _Reader:
    def __init__(self, kind: str, config: Mapping[str, Any]) -> None:
        if not isinstance(config, Mapping):
            raise DestinationConfigError(f"{kind}: the config must be a JSON object")
        self._kind = kind
        self._config = dict(config)
        self._seen: set[str] = set()

    def _get(self, key: str, default: Any, required: bool) -> Any:
        self._seen.add(key)
        if key not in self._config:
            if required:
                raise DestinationConfigError(f"{self._kind}: {key!r} is required")
            return default
        return self._config[key]

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        value = self._get(key, default, required)
        if not isinstance(value, str):
            raise DestinationConfigError(f"{self._kind}: {key!r} must be a string")
        return self._storable(key, value)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self._get(key, default, False)
        if not isinstance(value, bool):
            raise DestinationConfigError(f"{self._kind}: {key!r} must be true or false")
        return value

    def strings(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._get(key, [], required)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DestinationConfigError(f"{self._kind}: {key!r} must be a list of strings")
        return tuple(self._storable(key, v) for v in value)

    def _storable(self, key: str, value: str) -> str:
        refused = refused_character(value)
        if refused is not None:
            # Not the value: it may be a secret.
            raise DestinationConfigError(f"{self._kind}: {key!r} contains {refused}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self._config) - self._seen)
        if unknown:
            raise DestinationConfigError(f"{self._kind}: unknown key(s) {', '.join(map(repr, unknown))}")


def _timeout(settings: object) -> float:
    value = getattr(settings, "http_timeout_seconds", DEFAULT_HTTP_TIMEOUT_S)
    return float(value)


def _email(config: Mapping[str, Any], settings: object) -> Destination:
    reader = _Reader("email", config)
    to = reader.strings("to", required=True)
    mode = reader.string("mode", "immediate")
    reader.done()
    email_config = EmailConfig(to=to, mode=mode)
    if isinstance(settings, SmtpSettings):
        smtp = settings
    elif getattr(settings, "smtp_host", ""):
        smtp = SmtpSettings.from_settings(_as_smtp_source(settings))
    else:
        raise DestinationConfigError("email: no SMTP server configured (set HASHWATCH_SMTP_HOST)")
    return EmailDestination(email_config, smtp)


def _as_smtp_source(settings: object) -> SmtpSettingsSource:
    return settings  # type: ignore[return-value]


def _webhook(config: Mapping[str, Any], settings: object) -> Destination:
    reader = _Reader("webhook", config)
    url = reader.string("url", required=True)
    secret = reader.string("secret", required=True)
    allow_private = reader.boolean("allow_private")
    reader.done()
    return WebhookDestination(
        WebhookConfig(
            url=url, secret=Secret(secret), allow_private=allow_private, timeout_s=_timeout(settings)
        )
    )


def _pagerduty(config: Mapping[str, Any], settings: object) -> Destination:
    reader = _Reader("pagerduty", config)
    routing_key = reader.string("routing_key", required=True)
    severity = reader.string("severity", "critical")
    events_url = reader.string("events_url", EVENTS_URL)
    source = reader.string("source", "hashwatch")
    allow_private = reader.boolean("allow_private")
    reader.done()
    return PagerDutyDestination(
        PagerDutyConfig(
            routing_key=Secret(routing_key),
            severity=severity,
            events_url=events_url,
            source=source,
            allow_private=allow_private,
            timeout_s=_timeout(settings),
        )
    )


_BUILDERS: dict[str, Callable[[Mapping[str, Any], object], Destination]] = {
    "email": _email,
    "webhook": _webhook,
    "pagerduty": _pagerduty,
}


def build_destination(kind: str, config: Mapping[str, Any], settings: object) -> Destination:
    """A ready client for a stored ``(kind, config)``, or ``DestinationConfigError``.

    ``settings`` is the reporting settings object (``smtp_*`` fields for email,
    ``http_timeout_seconds`` for HTTP kinds) or, for email, an ``SmtpSettings``.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise DestinationConfigError(f"unknown destination kind {kind!r} (known: {', '.join(KINDS)})")
    try:
        return builder(config, settings)
    except DestinationConfigError:
        raise
    except ValueError as exc:
        raise DestinationConfigError(f"{kind}: {exc}") from None


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as ``destinations list`` may show it: secrets reduced to their last 4 characters."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_KEYS and isinstance(value, str):
            shown[key] = "****" + value[-4:] if len(value) >= 16 else "****"
        else:
            shown[key] = value
    return shown
