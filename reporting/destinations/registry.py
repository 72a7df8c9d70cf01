"""Every destination kind, in one list, and what is done with a stored ``(kind, config)``.

A kind is one module declaring its ``KIND`` (``schema``); it is available once it is listed in
``KINDS``. Everything else follows from the list: the outbox worker builds destinations here,
``DestinationAdmin`` checks kinds and configs here, ``reporting.sealed`` seals the fields that
are secrets, listings redact them, and ``hashwatch destinations add`` makes its flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporting.destinations import email, pagerduty, webhook
from reporting.destinations.schema import (
    Destination,
    DestinationConfigError,
    DestinationKind,
    check_kinds,
)

KINDS: tuple[DestinationKind, ...] = check_kinds([email.KIND, webhook.KIND, pagerduty.KIND])

_BY_NAME = {kind.name: kind for kind in KINDS}
NAMES = tuple(_BY_NAME)
# Fields whose values are secrets: sealed at rest, never echoed by ``redact_config``.
SECRET_FIELDS = frozenset(spec.name for kind in KINDS for spec in kind.fields if spec.secret)


def find_kind(name: str) -> DestinationKind | None:
    return _BY_NAME.get(name)


def build_destination(kind: str, config: Mapping[str, Any], settings: object) -> Destination:
    """A ready client for a stored ``(kind, config)``, or ``DestinationConfigError``.

    ``settings`` is the reporting settings object (``smtp_*`` fields for email,
    ``http_timeout_seconds`` for HTTP kinds) or, for email, an ``SmtpSettings``.
    """
    found = _BY_NAME.get(kind)
    if found is None:
        raise DestinationConfigError(f"unknown destination kind {kind!r} (known: {', '.join(NAMES)})")
    values = found.read(config)
    try:
        return found.build(values, settings)
    except DestinationConfigError:
        raise
    except ValueError as exc:
        raise DestinationConfigError(f"{kind}: {exc}") from None


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as ``destinations list`` may show it: secrets reduced to their last 4 characters."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in SECRET_FIELDS and isinstance(value, str):
            shown[key] = "****" + value[-4:] if len(value) >= 16 else "****"
        else:
            shown[key] = value
    return shown
