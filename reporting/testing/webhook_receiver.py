"""A webhook endpoint that records what it receives and answers what it is told to."""

from __future__ import annotations

import json
import ssl
import threading
import time
from typing import Any

from reporting.destinations.signing import verify_signature
from reporting.testing.httpserver import BackgroundHTTPServer, Reply, Request


class WebhookReceiver(BackgroundHTTPServer):
    """``url`` takes POSTs; ``requests`` lists them. ``fail_next(n, 500|429|400)`` scripts answers.

    Give ``secret`` to have ``valid_signatures()`` check every request the way a customer should.
    """

    def __init__(
        self, secret: str = "", status: int = 204, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.secret = secret
        self.status = status
        self.requests: list[Request] = []
        self._received = threading.Condition()
        super().__init__(tls_context)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def handle(self, request: Request) -> Reply:
        with self._received:
            self.requests.append(request)
            self._received.notify_all()
        return Reply(self.status)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} of {count} webhook requests arrived")
                self._received.wait(left)
            return list(self.requests)

    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order (duplicates included)."""
        return [json.loads(r.body) for r in self.requests]

    def event_ids(self) -> list[str]:
        return [r.header("x-hashwatch-event-id") for r in self.requests]

    def valid_signatures(self, tolerance_s: float = 300.0) -> bool:
        return all(
            verify_signature(
                self.secret,
                r.header("x-hashwatch-timestamp"),
                r.body,
                r.header("x-hashwatch-signature"),
                tolerance_s,
            )
            for r in self.requests
        )
