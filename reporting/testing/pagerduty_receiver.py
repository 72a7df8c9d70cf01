"""A fake PagerDuty Events API v2 endpoint that enforces the documented schema."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from reporting.testing.httpserver import BackgroundHTTPServer, Reply, Request

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class Alert:
    dedup_key: str
    state: str  # triggered | acknowledged | resolved
    summary: str
    events: int


def schema_errors(body: Any) -> list[str]:
    """What PagerDuty would reject in an Events v2 body (empty when acceptable)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    routing_key = body.get("routing_key")
    if not isinstance(routing_key, str) or len(routing_key) != 32:
        errors.append("routing_key must be a 32-character string")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append(f"event_action must be one of {ACTIONS}")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("dedup_key must be a string of 1..255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append("dedup_key is required to acknowledge or resolve")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            errors.append("payload is required to trigger")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
                errors.append("payload.summary must be a string of 1..1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("payload.source is required")
            if payload.get("severity") not in SEVERITIES:
                errors.append(f"payload.severity must be one of {SEVERITIES}")
    return errors


class PagerDutyReceiver(BackgroundHTTPServer):
    """``events_url`` accepts Events v2 bodies: 202 when valid, 400 with errors when not;
    ``fail_next(n, 429|500)`` scripts throttling and outages. ``alerts`` tracks each dedup_key."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, Any]] = []
        self.rejected: list[tuple[bytes, list[str]]] = []
        self.alerts: dict[str, Alert] = {}
        self._state = threading.Lock()
        self._generated = 0
        super().__init__()

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/v2/enqueue"

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Reply(404, b'{"status":"not found"}')
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        errors = schema_errors(body) if body is not None else ["body is not JSON"]
        with self._state:
            if errors:
                self.rejected.append((request.body, errors))
                answer = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
                return Reply(400, json.dumps(answer).encode(), {"Content-Type": "application/json"})
            assert isinstance(body, dict)
            self.accepted.append(body)
            key = body.get("dedup_key")
            if key is None:
                self._generated += 1
                key = f"generated-{self._generated}"
            self._apply(key, body)
        answer = {"status": "success", "message": "Event processed", "dedup_key": key}
        return Reply(202, json.dumps(answer).encode(), {"Content-Type": "application/json"})

    def _apply(self, key: str, body: dict[str, Any]) -> None:
        previous = self.alerts.get(key)
        action = body["event_action"]
        if action == "trigger":
            if previous is not None and previous.state != "resolved":
                # PagerDuty merges a trigger into the open alert with the same key.
                self.alerts[key] = Alert(key, previous.state, previous.summary, previous.events + 1)
            else:
                self.alerts[key] = Alert(key, "triggered", body["payload"]["summary"], 1)
        elif previous is not None and previous.state != "resolved":
            state = "resolved" if action == "resolve" else "acknowledged"
            self.alerts[key] = Alert(key, state, previous.summary, previous.events + 1)
