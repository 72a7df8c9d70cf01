"""The values a customer is made of, and their checks: settings, the view every answer shows
(the email only masked), hostnames and zones, ids."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scanner.errors import InvalidRequest

EMAIL_STATES = ("unverified", "pending", "verified")
NOTIFY_MODES = ("immediate", "digest")
DEGRADED_VERDICTS = ("block", "allow")
_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class CustomerSettings:
    # List names that apply; empty: every list.
    lists: tuple[str, ...] = ()
    # Largest distance per algorithm, never above the lists' own thresholds.
    thresholds: Mapping[str, int] = field(default_factory=dict)
    # "block" | "allow" | "" (the server's HASHWATCH_DEGRADED_VERDICT)
    degraded_verdict: str = ""
    notify: str = "immediate"

    def to_json(self) -> dict[str, Any]:
        return {
            "lists": list(self.lists),
            "thresholds": dict(self.thresholds),
            "degraded_verdict": self.degraded_verdict,
            "notify": self.notify,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerSettings:
        return cls(
            tuple(data.get("lists", ())),
            {str(k): int(v) for k, v in dict(data.get("thresholds", {})).items()},
            str(data.get("degraded_verdict", "")),
            str(data.get("notify", "immediate")),
        )


@dataclass(frozen=True)
class CustomerView:
    """A customer as every API answer shows it: the email only ever masked."""

    customer_id: str
    partner_id: str | None
    name: str
    email: str
    email_state: str
    enabled: bool
    settings: CustomerSettings
    sites: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeleteResult:
    customer_id: str
    matches_kept: int
    blocks_kept: int
    evidence_kept: int
    destinations_disabled: int


def mask_email(address: str | None) -> str:
    """``alice@example.org`` → ``a***@example.org``; "" when none is set."""
    if not address:
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def check_email(address: str) -> str:
    from reporting.destinations.email import EmailConfig

    address = address.strip()
    try:
        EmailConfig(to=(address,))
    except ValueError:
        raise InvalidRequest(
            f"{mask_email(address) or 'the email'} is not a plain email address", "email"
        ) from None
    return address


def check_host(host: str) -> str:
    """A hostname (``shop.example``) or a zone (``*.example.org``), lower-case, no trailing dot."""
    name = host.strip().lower().rstrip(".")
    bare = name.removeprefix("*.")
    labels = bare.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidRequest(f"{host!r} is not a hostname or a zone (*.example.org)", "host")
    return name


def check_customer_id(customer_id: str) -> str:
    if not _CUSTOMER_ID.fullmatch(customer_id):
        raise InvalidRequest(
            "customer_id: 1-200 characters of letters, digits and . _ : - (starting with a letter or digit)",
            "customer_id",
        )
    return customer_id


def check_name(name: str) -> str:
    if len(name) > 200 or not all(ch.isprintable() for ch in name):
        raise InvalidRequest("name: at most 200 printable characters", "name")
    return name
