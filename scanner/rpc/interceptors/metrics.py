"""Counts every RPC and every scan answer for Prometheus (``scanner.metrics``). In-process
increments only: nothing here waits on I/O."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.metrics import RPC_SECONDS, RPCS, SCAN_SECONDS, SCANS
from scanner.rpc.interceptors.handlers import rewrap


class MetricsInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        return rewrap(handler, lambda b: _unary(b, method), lambda b: _stream(b, method))


def observe_scan(response: object) -> None:
    if isinstance(response, pb.ScanResponse):
        verdict = pb.Verdict.Name(response.verdict).removeprefix("VERDICT_").lower()
        outcome = pb.Outcome.Name(response.outcome).removeprefix("OUTCOME_").lower()
        SCANS.labels(verdict, outcome).inc()
        SCAN_SECONDS.observe(response.elapsed_us / 1e6)


def code_name(context: grpc.ServicerContext, failed: bool) -> str:
    """The status the RPC ended with (set by an abort), else OK or, after an exception, UNKNOWN."""
    code = context.code()  # type: ignore[attr-defined]
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN" if failed else "OK"


def _finish(method: str, started: float, context: grpc.ServicerContext, failed: bool) -> None:
    RPCS.labels(method, code_name(context, failed)).inc()
    RPC_SECONDS.labels(method).observe(time.perf_counter() - started)


def _unary(behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            response = behaviour(request, context)
            observe_scan(response)
            failed = False
            return response
        finally:
            _finish(method, started, context, failed)

    return wrapped


def _stream(
    behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], method: str
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        started = time.perf_counter()
        failed = True
        try:
            for response in behaviour(request, context):
                observe_scan(response)
                yield response
            failed = False
        finally:
            _finish(method, started, context, failed)

    return wrapped
