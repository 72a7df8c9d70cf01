"""One access log line per RPC, and ``request_id`` + ``method`` bound for every line logged
while it runs.

The request id is the ScanRequest's own, else the caller's ``x-request-id`` metadata, else a
new one. Only that metadata key is ever read here: the authorization header, content and other
request fields never reach a log line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import structlog

from scanner import logs
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.rpc.interceptors.handlers import rewrap
from scanner.rpc.interceptors.metrics import code_name

log = structlog.get_logger("hashwatch.access")


class LoggingInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        header_id = ""
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "x-request-id" and isinstance(value, str):
                header_id = value[:200]
        return rewrap(
            handler, lambda b: _unary(b, method, header_id), lambda b: _stream(b, method, header_id)
        )


def _request_id(request: Any, header_id: str) -> str:
    own = getattr(request, "request_id", "") if not isinstance(request, Iterator) else ""
    return str(own)[:200] if own else header_id or uuid.uuid4().hex


def _answer_fields(response: Any) -> dict[str, object]:
    if isinstance(response, pb.ScanResponse):
        return {
            "verdict": pb.Verdict.Name(response.verdict).removeprefix("VERDICT_").lower(),
            "outcome": pb.Outcome.Name(response.outcome).removeprefix("OUTCOME_").lower(),
            "matches": len(response.matches),
            "match_id": response.match_id,
        }
    return {}


def _access(
    method: str, context: grpc.ServicerContext, started: float, failed: bool, **fields: object
) -> None:
    if not logs.configured():
        # Embedded (tests, a CLI printing JSON): structlog's defaults would write to the
        # embedding program's stdout.
        return
    code = code_name(context, failed)
    level = log.info if code in ("OK", "NOT_FOUND", "INVALID_ARGUMENT") else log.warning
    level(
        "rpc",
        code=code,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        peer=context.peer(),
        **fields,
    )


def _unary(
    behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str, header_id: str
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(
            request_id=_request_id(request, header_id), method=method
        ):
            failed, fields = True, {}
            try:
                response = behaviour(request, context)
                fields, failed = _answer_fields(response), False
                return response
            finally:
                _access(method, context, started, failed, **fields)

    return wrapped


def _stream(
    behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str, header_id: str
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        # A stream's items carry their own ids (in each answer); the stream gets the caller's.
        with structlog.contextvars.bound_contextvars(
            request_id=_request_id(request, header_id), method=method
        ):
            failed, answers, blocked = True, 0, 0
            try:
                for response in behaviour(request, context):
                    answers += 1
                    blocked += int(getattr(response, "verdict", 0) == pb.VERDICT_BLOCK)
                    yield response
                failed = False
            finally:
                _access(method, context, started, failed, answers=answers, blocked=blocked)

    return wrapped
