"""Authentication and authorisation of every RPC, in one place.

The caller presents ``authorization: Bearer <token>`` metadata. Every method needs one of the
scopes ``METHOD_SCOPES`` names for it (``admin`` implies all); a method in no table is denied
to everyone, so a new RPC is closed until someone decides who may call it. Health checks and
reflection stay open so load balancers and ``grpcurl`` work.

No token or a bad one → UNAUTHENTICATED; a valid token without the scope, or used from an
address outside its CIDRs → PERMISSION_DENIED. Messages never repeat the secret. The token and
scope are checked before the request is deserialised; the address (only known to the handler's
context) just before the handler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
import structlog

from scanner.addresses import peer_address as peer_address
from scanner.auth import (
    ANALYTICS_READ,
    AUDIT_READ,
    CUSTOMER_APPEAL,
    CUSTOMER_SCOPES,
    CUSTOMERS_READ,
    CUSTOMERS_WRITE,
    LISTS_READ,
    LISTS_WRITE,
    PARTNER,
    REVIEW_READ,
    REVIEW_WRITE,
    SCAN,
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

METHOD_SCOPES: Mapping[str, frozenset[str]] = {
    "/hashwatch.v1.Scanner/Scan": frozenset({SCAN}),
    "/hashwatch.v1.Scanner/ScanStream": frozenset({SCAN}),
    "/hashwatch.v1.Scanner/Hash": frozenset({SCAN}),
    "/hashwatch.v1.Scanner/Match": frozenset({SCAN}),
    "/hashwatch.v1.Scanner/Blocks": frozenset({SCAN}),
    "/hashwatch.v1.Review/ListMatches": frozenset({REVIEW_READ}),
    "/hashwatch.v1.Review/GetMatch": frozenset({REVIEW_READ}),
    "/hashwatch.v1.Review/Decide": frozenset({REVIEW_WRITE}),
    # An analyst filing for a customer, or the customer's own token for its own cases
    # (scanner/rpc/review_service.py narrows it); deciding stays with review:write.
    "/hashwatch.v1.Review/RequestReview": frozenset({REVIEW_WRITE, CUSTOMER_APPEAL}),
    "/hashwatch.v1.Audit/ListAuditLog": frozenset({AUDIT_READ}),
    # A partner token reaches these too, for its own customers only (scanner/rpc/customers_service.py).
    **{
        f"/hashwatch.v1.Customers/{name}": frozenset({CUSTOMERS_READ, PARTNER})
        for name in ("GetCustomer", "ListCustomers")
    },
    **{
        f"/hashwatch.v1.Customers/{name}": frozenset({CUSTOMERS_WRITE, PARTNER})
        for name in (
            "CreateCustomer",
            "UpdateCustomer",
            "DeleteCustomer",
            "AddSite",
            "RemoveSite",
            "SetEmail",
            "VerifyEmail",
            "EnableCustomer",
            "DisableCustomer",
        )
    },
    # A partner's token passes here; the service narrows it to the partner's own customers.
    "/hashwatch.v1.Analytics/GetDailyCounts": frozenset({ANALYTICS_READ, PARTNER}),
    "/hashwatch.v1.Analytics/ExportDailyCounts": frozenset({ANALYTICS_READ, PARTNER}),
}

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
