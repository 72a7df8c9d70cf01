"""A service the server serves beside ``hashwatch.v1.Scanner``: its servicer, how gRPC adds it, and
its name (for reflection and the access log).

Each servicer module says how it is served (a ``Service`` built next to its servicer), and the
composition root (``scanner/app.py``) chooses which to serve: a new service is its proto, its
module in ``scanner/rpc/`` and one line there. Who may call its methods is declared in the proto
(``option (hashwatch.v1.scopes)``, read by ``scanner/rpc/interceptors/auth.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc


@dataclass(frozen=True)
class Service:
    servicer: object
    add: Callable[[Any, grpc.Server], None]
    # The full name, e.g. "hashwatch.v1.Audit".
    name: str
    # Served only with authentication on: its answers depend on who asks (an analyst's queue, a
    # partner's customers, the audit log), so without tokens nobody could be told apart.
    needs_auth: bool = True

    @classmethod
    def of(
        cls,
        servicer: object,
        add: Callable[[Any, grpc.Server], None],
        messages: ModuleType,
        name: str,
        *,
        needs_auth: bool = True,
    ) -> Service:
        """``messages`` is the service's generated ``*_pb2`` module, ``name`` its short name."""
        return cls(servicer, add, messages.DESCRIPTOR.services_by_name[name].full_name, needs_auth)
