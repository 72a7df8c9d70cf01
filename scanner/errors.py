"""hashwatch's exception tree, and how each maps to a gRPC status.

    HashwatchError
    ├── InvalidRequest          → INVALID_ARGUMENT (caller's fault; includes index.hashes.InvalidHash)
    ├── Unauthenticated         → UNAUTHENTICATED (no credential, or one that is not valid)
    ├── PermissionDenied        → PERMISSION_DENIED (a valid credential that does not allow this)
    ├── NotFound                → NOT_FOUND
    ├── AlreadyExists           → ALREADY_EXISTS
    ├── FailedPrecondition      → FAILED_PRECONDITION (not in the state this needs, e.g. unverified)
    ├── Unavailable             → UNAVAILABLE (retry later)
    ├── Overloaded              → RESOURCE_EXHAUSTED with RetryInfo (queue full, rate limit)
    └── DeadlineExceeded        → DEADLINE_EXCEEDED (it passed while the request waited)

Anything else escaping a handler is a bug: it is logged with the request and answered INTERNAL
without internals. Handlers raise these; ``scanner.rpc.interceptors.errors`` converts them once.
Content that cannot be scanned is not an error at all: it is an ``Outcome`` in a normal reply.
"""

from __future__ import annotations


class HashwatchError(Exception):
    pass


class InvalidRequest(HashwatchError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class Unauthenticated(HashwatchError):
    """No credential, or one that is not valid (unknown, malformed, expired, revoked)."""


class PermissionDenied(HashwatchError):
    """A valid credential that does not allow this call (scope, address)."""


class NotFound(HashwatchError):
    pass


class AlreadyExists(HashwatchError):
    pass


class FailedPrecondition(HashwatchError):
    pass


class Unavailable(HashwatchError):
    pass


class Overloaded(HashwatchError):
    """No room for this request now: the queue is full or the customer is over its rate.
    ``retry_after`` (seconds) is the server's estimate of when a retry may succeed."""

    def __init__(self, message: str, retry_after: float, reason: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # queue_full or rate_limit (the metrics label).
        self.reason = reason


class DeadlineExceeded(HashwatchError):
    """The caller's deadline passed before the work could start."""
