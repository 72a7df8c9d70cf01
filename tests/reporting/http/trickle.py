"""A server on 127.0.0.1 that answers one byte at a time: each byte well within any per-read
timeout, the whole answer far beyond it."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self


class Trickle:
    """Answers the first request with ``answer``, sending it one byte every ``every`` seconds
    from byte ``burst`` on (the bytes before go at once), for at most ``for_s`` seconds."""

    def __init__(self, answer: bytes, *, burst: int = 0, every: float = 0.1, for_s: float = 6.0) -> None:
        self._answer, self._burst, self._every, self._for_s = answer, burst, every, for_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/slow"

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(self._answer[: self._burst])
                for i, byte in enumerate(self._answer[self._burst :]):
                    if self._stop.wait(self._every) or (i + 1) * self._every > self._for_s:
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)
