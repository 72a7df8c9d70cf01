"""The values the outbox worker hands to destinations, and what a delivery attempt returns.

An ``Event`` is what happened (a match, a failed block, a closed case); its ``id`` is chosen once,
when the outbox row is written, and every retry of every destination sends that same id, so a
receiver can drop duplicates. The payload is JSON-safe by construction: content bytes cannot be
put in it, and nothing here ever carries the matched image.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class EventKind(StrEnum):
    """The kinds hashwatch emits today; ``Event.kind`` accepts any other non-empty name too."""

    MATCH = "match"
    BLOCK_FAILED = "block_failed"
    CASE_RESOLVED = "case_resolved"
    DEAD_LETTER = "dead_letter"
    TEST = "test"


class EventError(ValueError):
    """An event that cannot be delivered as given (a programming error upstream)."""


def _check_json_safe(value: Any, where: str) -> None:
    # json.dumps alone would accept tuples and non-string keys silently; be exact so what a
    # webhook signs is what the worker stored.
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, bytes | bytearray | memoryview):
        raise EventError(f"{where}: bytes are not allowed in an event payload (never send content)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(f"{where}: keys must be strings, got {type(key).__name__}")
            _check_json_safe(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json_safe(item, f"{where}[{i}]")
        return
    raise EventError(f"{where}: {type(value).__name__} is not JSON-safe")


def _frozen_copy(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    # A deep copy through JSON: the event cannot change under the worker's feet, and it holds
    # exactly what will be sent.
    try:
        copied: dict[str, Any] = json.loads(json.dumps(payload, allow_nan=False))
    except ValueError as exc:  # NaN or infinity: not JSON
        raise EventError(f"payload: {exc}") from None
    return MappingProxyType(copied)


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    customer_id: str
    occurred_at: datetime
    case_id: int
    payload: Mapping[str, Any] = field(hash=False)

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.id)
        except (ValueError, AttributeError, TypeError):
            raise EventError(f"event id must be a UUID string, got {self.id!r}") from None
        if not self.kind or not isinstance(self.kind, str):
            raise EventError("event kind must be a non-empty string")
        if not isinstance(self.customer_id, str):
            raise EventError("customer_id must be a string")
        if not isinstance(self.occurred_at, datetime):
            raise EventError("occurred_at must be a datetime")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            # SQLite hands back naive datetimes for columns written in UTC; read them as UTC
            # rather than fail a delivery over a storage quirk.
            object.__setattr__(self, "occurred_at", self.occurred_at.replace(tzinfo=UTC))
        if isinstance(self.case_id, bool) or not isinstance(self.case_id, int):
            raise EventError("case_id must be an int")
        _check_json_safe(self.payload, "payload")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        object.__setattr__(self, "payload", _frozen_copy(self.payload))

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form every HTTP destination sends (and digests list)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "customer_id": self.customer_id,
            "case_id": self.case_id,
            "occurred_at": format_time(self.occurred_at),
            "payload": json.loads(json.dumps(dict(self.payload))),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            customer_id=str(data["customer_id"]),
            occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
            case_id=int(data["case_id"]),
            payload=dict(data.get("payload", {})),
        )


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, the form every destination uses."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_test_event(customer_id: str, *, now: datetime | None = None) -> Event:
    """What "send test" delivers: obviously fake data, case 0, a fresh id each time."""
    return Event(
        id=str(uuid.uuid4()),
        kind=EventKind.TEST,
        customer_id=customer_id,
        occurred_at=now or datetime.now(UTC),
        case_id=0,
        payload={
            "test": True,
            "url": "https://example.com/hashwatch-test.jpg",
            "block": "none",
            "hits": [{"list": "test", "entry_id": 0, "algorithm": "pdq", "distance": 0}],
        },
    )


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one attempt. ``deliver()`` returns this instead of raising.

    ``retryable`` is meaningful only when ``ok`` is false: true for 429, 5xx, timeouts and
    connection errors; false for other 4xx and for configuration problems (dead-letter those).
    ``retry_after`` is the receiver's own Retry-After, in seconds, when it gave one.
    """

    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None
    external_id: str = ""

    @classmethod
    def success(cls, detail: str, external_id: str = "") -> DeliveryResult:
        return cls(ok=True, retryable=False, detail=detail, external_id=external_id)

    @classmethod
    def retry(cls, detail: str, retry_after: float | None = None) -> DeliveryResult:
        return cls(ok=False, retryable=True, detail=detail, retry_after=retry_after)

    @classmethod
    def failure(cls, detail: str) -> DeliveryResult:
        return cls(ok=False, retryable=False, detail=detail)
