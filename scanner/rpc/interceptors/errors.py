"""Maps domain exceptions to gRPC statuses with rich details, in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from index.hashes import InvalidHash
from scanner.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from scanner.rpc.interceptors.handlers import rewrap

log = structlog.get_logger(__name__)


def _status(code: int, message: str, detail: Any | None = None) -> grpc.Status:
    status = status_pb2.Status(code=code, message=message)
    if detail is not None:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    converted: grpc.Status = rpc_status.to_status(status)
    return converted


def status_for(exc: BaseException, method: str) -> grpc.Status:
    if isinstance(exc, InvalidRequest | InvalidHash):
        field = getattr(exc, "field", "")
        violation = error_details_pb2.BadRequest.FieldViolation(field=field, description=str(exc))
        return _status(
            code_pb2.INVALID_ARGUMENT, str(exc), error_details_pb2.BadRequest(field_violations=[violation])
        )
    if isinstance(exc, Unauthenticated):
        return _status(code_pb2.UNAUTHENTICATED, str(exc))
    if isinstance(exc, PermissionDenied):
        return _status(code_pb2.PERMISSION_DENIED, str(exc))
    if isinstance(exc, NotFound):
        return _status(code_pb2.NOT_FOUND, str(exc))
    if isinstance(exc, AlreadyExists):
        return _status(code_pb2.ALREADY_EXISTS, str(exc))
    if isinstance(exc, FailedPrecondition):
        return _status(code_pb2.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, Unavailable):
        return _status(code_pb2.UNAVAILABLE, str(exc), error_details_pb2.RetryInfo())
    if isinstance(exc, Overloaded):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, round(exc.retry_after * 1000)))
        return _status(code_pb2.RESOURCE_EXHAUSTED, str(exc), error_details_pb2.RetryInfo(retry_delay=delay))
    if isinstance(exc, DeadlineExceeded):
        return _status(code_pb2.DEADLINE_EXCEEDED, str(exc))
    log.error("unhandled error in handler", method=method, exc_info=exc)
    return _status(code_pb2.INTERNAL, "internal error; see the server log")


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return rewrap(handler, lambda b: _wrap_unary(b, method), lambda b: _wrap_stream(b, method))


def _wrap_unary(behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return behaviour(request, context)
        except Exception as exc:
            if _already_aborted(exc, context):
                raise
            context.abort_with_status(status_for(exc, method))

    return wrapped


def _wrap_stream(
    behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from behaviour(request, context)
        except Exception as exc:
            if _already_aborted(exc, context):
                raise
            context.abort_with_status(status_for(exc, method))

    return wrapped


def _already_aborted(exc: Exception, context: grpc.ServicerContext) -> bool:
    # context.abort() raises a plain Exception after setting the status; let it through.
    return bool(getattr(context, "code", lambda: None)() is not None and type(exc) is Exception)
