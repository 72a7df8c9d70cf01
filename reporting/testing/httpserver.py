"""A real HTTP server on 127.0.0.1, port 0, in a background thread: the base of the HTTP fakes.

Subclasses implement ``handle(request) -> Reply``; this class owns the socket and the thread and
releases both on ``close()`` (or leaving the ``with`` block), so tests run warning-free.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    count: int
    headers: dict[str, str]
    body: bytes
    after_commit: bool


class BackgroundHTTPServer:
    """Context manager owning one ``ThreadingHTTPServer`` and its thread."""

    def __init__(self, tls_context: ssl.SSLContext | None = None) -> None:
        """With ``tls_context`` (a server-side context) it serves HTTPS instead of HTTP."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as separate writes; without this, delayed ACKs add
                # ~40 ms to every keep-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self.send_error(413)
                    return
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    received_at=time.time(),
                )
                reply = owner._dispatch(request)
                if reply is None:  # the fault "drop the connection"
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        # Every request that reached the server, faulted or not, in arrival order.
        self.seen: list[Request] = []
        self._hang: tuple[int, float] = (0, 0.0)
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls_context is not None:
            self._server.socket = tls_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=type(self).__name__, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        after_commit: bool = False,
    ) -> None:
        """Answer the next ``count`` requests with ``status``. With ``after_commit`` the request
        is processed first and only its answer is lost, as when a server crashes mid-reply."""
        if count <= 0:
            return
        with self._lock:
            self._faults.append(_Fault(status, count, headers or {}, body, after_commit))

    def hang_next(self, count: int = 1, seconds: float = 5.0) -> None:
        """Hold the next ``count`` requests for ``seconds`` before handling them (client timeouts)."""
        with self._lock:
            self._hang = (count, seconds)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.count -= 1
            if fault.count <= 0:
                self._faults.pop(0)
            return fault

    def _take_hang(self) -> float:
        with self._lock:
            count, seconds = self._hang
            if count <= 0:
                return 0.0
            self._hang = (count - 1, seconds)
            return seconds

    def _dispatch(self, request: Request) -> Reply | None:
        with self._lock:
            self.seen.append(request)
        hang = self._take_hang()
        if hang:
            self._closing.wait(hang)
        fault = self._take_fault()
        if fault is not None and not fault.after_commit:
            return Reply(fault.status, fault.body, fault.headers)
        reply = self.handle(request)
        if fault is not None:
            return Reply(fault.status, fault.body, fault.headers)
        return reply

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
