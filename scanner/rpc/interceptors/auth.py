"""Authentication and authorisation of every RPC, in one place.

The caller presents ``authorization: Bearer <token>`` metadata. Every method needs one of the
scopes ``METHOD_SCOPES`` names for it (``admin`` implies all), declared beside the method in the
proto (``option (hashwatch.v1.scopes)``); a method in no table is denied to everyone, so a new
RPC is closed until someone decides who may call it. Health checks and
reflection stay open so load balancers and ``grpcurl`` work.

No token or a bad one → UNAUTHENTICATED; a valid token without the scope, or used from an
address outside its CIDRs → PERMISSION_DENIED. Messages never repeat the secret. The token and
scope are checked before the request is deserialised; the address (only known to the handler's
context) just before the handler runs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any

import grpc
import structlog

from scanner.addresses import peer_address as peer_address
from scanner.api.hashwatch.v1 import access_pb2
from scanner.auth import (
    CUSTOMER_SCOPES,
    LISTS_READ,
    LISTS_WRITE,
    PARTNER,
    REVIEW_READ,
    REVIEW_WRITE,
    SCOPES,
    PermissionDenied,
    Principal,
    TokenVerifier,
    Unauthenticated,
    reset_current_principal,
    set_current_principal,
)
from scanner.rpc.interceptors.handlers import rewrap

log = structlog.get_logger(__name__)

OPEN_METHODS = frozenset(
    {
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)


def declared_scopes(modules: Iterable[ModuleType] | None = None) -> dict[str, frozenset[str]]:
    """Every RPC of the API and the scopes its ``(hashwatch.v1.scopes)`` options name
    (proto/hashwatch/v1/access.proto), read from the generated descriptors: the table is declared
    beside each method, so a new RPC is one place to write. A method without the option is left
    out (and so denied to everyone); an option naming no known scope stops the server's start."""
    table: dict[str, frozenset[str]] = {}
    for module in api_modules() if modules is None else modules:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                scopes = frozenset(method.GetOptions().Extensions[access_pb2.scopes])
                unknown = sorted(scopes - SCOPES)
                if unknown:
                    raise ValueError(f"/{service.full_name}/{method.name} names unknown scope(s) {unknown}")
                if scopes:
                    table[f"/{service.full_name}/{method.name}"] = scopes
    return table


def api_modules() -> list[ModuleType]:
    """The generated message modules of the API (``scanner/api/hashwatch/v1/*_pb2.py``)."""
    package = importlib.import_module("scanner.api.hashwatch.v1")
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith("_pb2")
    ]


METHOD_SCOPES: Mapping[str, frozenset[str]] = declared_scopes()

# Services whose methods follow the read/write naming rule: List*/Get* need the read scope,
# any other method the write scope (so an unforeseen verb needs the stronger one). Add exact
# entries to METHOD_SCOPES to decide otherwise.
SERVICE_SCOPES: Mapping[str, tuple[str, str]] = {
    "/hashwatch.v1.Review/": (REVIEW_READ, REVIEW_WRITE),
    "/hashwatch.v1.Lists/": (LISTS_READ, LISTS_WRITE),
}
_READ_VERBS = ("List", "Get")

_BEARER = "bearer "


def required_scopes(method: str) -> frozenset[str] | None:
    """The scopes any one of which allows ``method``; ``None`` for a method nobody may call."""
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    for prefix, (read, write) in SERVICE_SCOPES.items():
        if method.startswith(prefix):
            name = method.removeprefix(prefix)
            if not name or "/" in name:
                return None
            return frozenset({read if name.startswith(_READ_VERBS) else write})
    return None


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str):
            if value[: len(_BEARER)].lower() == _BEARER:
                return value[len(_BEARER) :].strip()
            return ""
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if method in OPEN_METHODS:
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        try:
            principal = self._authorise(method, handler_call_details.invocation_metadata)
        except Unauthenticated as exc:
            log.info("rpc refused", method=method, code="UNAUTHENTICATED", reason=str(exc))
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except PermissionDenied as exc:
            log.info("rpc refused", method=method, code="PERMISSION_DENIED", reason=str(exc))
            return _refusal(handler, grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except Exception:
            log.exception("token verification failed", method=method)
            return _refusal(handler, grpc.StatusCode.UNAVAILABLE, "could not verify the token; retry later")
        if handler is None:
            return None
        return _with_principal(handler, principal, method)

    def _authorise(self, method: str, metadata: Any) -> Principal:
        secret = bearer_token(metadata)
        if secret is None:
            raise Unauthenticated("this server requires a token: send 'authorization: Bearer <token>'")
        if not secret:
            raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
        principal = self._verifier.authenticate(secret)
        required = required_scopes(method)
        if required is None:
            raise PermissionDenied(f"{method} is not open to any token")
        if not principal.allows(required):
            raise PermissionDenied(
                f"{principal.actor} lacks the scope {' or '.join(sorted(required))} needed for {method}"
            )
        if principal.partner_id is not None and PARTNER not in required:
            # A partner token sees its own customers' data through the methods made for it,
            # never through a service that answers for every customer.
            raise PermissionDenied(f"{principal.actor} is bound to a partner and may not call {method}")
        if principal.customer_id is not None and not required & CUSTOMER_SCOPES:
            # Likewise a customer's token: only the methods that narrow to its own customer.
            raise PermissionDenied(f"{principal.actor} is bound to a customer and may not call {method}")
        return principal


def _refusal(
    handler: grpc.RpcMethodHandler[Any, Any] | None, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    # No deserializer: a refused request is never parsed.
    def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    def refuse_stream(_request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        context.abort(code, message)
        yield  # pragma: no cover - abort raises

    if handler is not None and handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse_stream)
    if handler is not None and handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse)
    if handler is not None and handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(refuse_stream)
    return grpc.unary_unary_rpc_method_handler(refuse)


def _with_principal(
    handler: grpc.RpcMethodHandler[Any, Any], principal: Principal, method: str
) -> grpc.RpcMethodHandler[Any, Any]:
    def admit(context: grpc.ServicerContext) -> None:
        address = peer_address(context.peer())
        if not principal.allows_address(address):
            log.info("rpc refused", method=method, code="PERMISSION_DENIED", actor=principal.actor)
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{principal.actor} may not be used from {address or 'this address'}",
            )

    def unary(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            admit(context)
            token = set_current_principal(principal)
            try:
                return behaviour(request, context)
            finally:
                reset_current_principal(token)

        return wrapped

    def stream(behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            admit(context)
            # A generator may resume on another thread; set the caller around each step.
            responses = behaviour(request, context)
            while True:
                token = set_current_principal(principal)
                try:
                    response = next(responses)
                except StopIteration:
                    return
                finally:
                    reset_current_principal(token)
                yield response

        return wrapped

    return rewrap(handler, unary, stream)
