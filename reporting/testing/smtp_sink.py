"""A real SMTP server (aiosmtpd) on 127.0.0.1, port 0, collecting every message it accepts.

Plain, STARTTLS (``tls_context=``, ``mode="starttls"``) or implicit TLS (``mode="tls"``), with
optional AUTH (``credentials=(user, password)``, only over TLS as real relays insist).
``reject_next(n, code)`` makes the next ``n`` messages fail at DATA, e.g. 451 (try later) or 554.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _ImplicitTLS(SMTP):
    """aiosmtpd counts only STARTTLS as TLS; on an implicit-TLS listener the connection is
    encrypted from the first byte, so it may offer AUTH (which it only ever does over TLS)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if transport.get_extra_info("ssl_object") is not None:
            self._tls_protocol = True  # type: ignore[assignment]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._sink._accept(envelope)


class SmtpSink:
    def __init__(
        self,
        *,
        mode: str = "plain",
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        if mode not in ("plain", "starttls", "tls"):
            raise ValueError("mode must be plain, starttls or tls")
        if mode != "plain" and tls_context is None:
            raise ValueError(f"mode {mode} needs a tls_context")
        if credentials is not None and mode == "plain":
            raise ValueError("AUTH is offered only over TLS")
        self.messages: list[ReceivedMessage] = []
        self.logins: list[str] = []
        self._credentials = credentials
        self._lock = threading.Condition()
        self._rejects: list[list[int]] = []
        self._loop = asyncio.new_event_loop()
        handler = _Handler(self)

        def factory() -> SMTP:
            kind = _ImplicitTLS if mode == "tls" else SMTP
            return kind(
                handler,
                hostname="hashwatch-sink.test",
                tls_context=tls_context if mode == "starttls" else None,
                require_starttls=mode == "starttls",
                authenticator=self._authenticate if credentials else None,
                auth_required=credentials is not None,
                auth_require_tls=True,
                loop=self._loop,
            )

        ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                self._loop.create_server(factory, "127.0.0.1", 0, ssl=tls_context if mode == "tls" else None)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="SmtpSink", daemon=True)
        self._thread.start()
        ready.wait(10)
        assert self._server is not None
        self.host: str = "127.0.0.1"
        self.port: int = int(self._server.sockets[0].getsockname()[1])

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self._credentials is not None
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if (user, password) == self._credentials:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def reject_next(self, count: int = 1, code: int = 451) -> None:
        with self._lock:
            self._rejects.append([code, count])

    def _accept(self, envelope: Envelope) -> str:
        with self._lock:
            if self._rejects:
                code, left = self._rejects[0]
                if left <= 1:
                    self._rejects.pop(0)
                else:
                    self._rejects[0][1] = left - 1
                return f"{code} {'try again later' if code < 500 else 'rejected'}"
            content = envelope.content
            data = content if isinstance(content, bytes) else str(content).encode()
            self.messages.append(ReceivedMessage(str(envelope.mail_from), tuple(envelope.rcpt_tos), data))
            self._lock.notify_all()
        return "250 OK queued"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._lock.wait(left)
            return list(self.messages)

    def close(self) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        # Let connection handlers that are still winding down finish before the loop closes.
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
