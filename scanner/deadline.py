"""The current request's deadline, for code below the servicer that may wait (the hashing queue).

A context variable rather than a parameter: ``ScanEngine.scan`` calls ``hash`` without one, and
the wait it bounds happens well below the transport. Times are ``time.monotonic()``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("hashwatch_deadline", default=None)
# gRPC reports "no deadline" as a time far in the future; past this, treat it as none.
_FOREVER = 7 * 24 * 3600.0


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Run the block with a deadline ``seconds`` from now (``None``: no deadline)."""
    until = None if seconds is None or seconds > _FOREVER else time.monotonic() + seconds
    token = _DEADLINE.set(until)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current() -> float | None:
    return _DEADLINE.get()
