"""OpenTelemetry traces, when ``HASHWATCH_OTEL_ENDPOINT`` names an OTLP/HTTP collector.

One SERVER span per RPC, named after the method, continuing the caller's W3C ``traceparent``
when it sends one. A ``Scan`` span has a child span per stage (``scan.hash`` with the decode,
``scan.match``, ``scan.record``: see ``scanner.stages``); a ``ScanStream`` span covers the whole
stream, with the number of answers, since one span per item would flood the collector.

Attributes are chosen one by one: the request id, the customer id, the verdict, outcome and
match count. Content, URLs and metadata other than the trace headers (tokens travel there) are
never read. Without the setting this module imports nothing of OpenTelemetry (the ``otel``
extra need not be installed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import grpc

from scanner import stages
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.rpc.interceptors.handlers import rewrap
from scanner.rpc.interceptors.metrics import code_name
from scanner.settings import Settings, SettingsError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

_TRACE_HEADERS = ("traceparent", "tracestate")
# Codes that mean the server failed, as OpenTelemetry's gRPC conventions have it; the others
# (a bad argument, a missing token) are the caller's and leave the span's status unset.
_SERVER_ERRORS = {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}


class Tracing:
    """The tracer provider exporting to the collector, and the interceptor using it."""

    def __init__(self, endpoint: str, service_name: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise SettingsError(
                "HASHWATCH_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
                "pip install 'hashwatch[otel]'"
            ) from exc
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": service_name})
        )
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer: Tracer = self.provider.get_tracer("hashwatch")
        self.interceptor = TracingInterceptor(self.tracer)
        stages.set_hook(self._stage)

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracing | None:
        return cls(settings.otel_endpoint, settings.otel_service_name) if settings.otel_endpoint else None

    def _stage(self, name: str) -> AbstractContextManager[object]:
        from opentelemetry import trace

        # Only inside a traced RPC: a stage on another thread (a stream's items) has no parent
        # and would become a trace of its own.
        if not trace.get_current_span().is_recording():
            return nullcontext()
        return self.tracer.start_as_current_span(name, record_exception=False)

    def shutdown(self) -> None:
        """Send what is buffered and stop."""
        stages.set_hook(None)
        self.provider.shutdown()


class TracingInterceptor(grpc.ServerInterceptor):
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {}
        for key, value in handler_call_details.invocation_metadata or ():
            if key in _TRACE_HEADERS and isinstance(value, str):
                carrier[key] = value
        parent = TraceContextTextMapPropagator().extract(carrier) if carrier else None
        method = handler_call_details.method
        return rewrap(
            handler,
            lambda b: _unary(self._tracer, b, method, parent),
            lambda b: _stream(self._tracer, b, method, parent),
        )


def _start(tracer: Tracer, method: str, parent: Context | None) -> Span:
    from opentelemetry.trace import SpanKind

    service, _, name = method.lstrip("/").rpartition("/")
    return tracer.start_span(
        method.lstrip("/"),
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        record_exception=False,
    )


def _request_fields(span: Span, request: Any) -> None:
    if isinstance(request, pb.ScanRequest):
        span.set_attribute("hashwatch.request_id", request.request_id[:200])
        span.set_attribute("hashwatch.customer_id", request.customer_id[:200])


def _answer_fields(span: Span, response: Any) -> None:
    if isinstance(response, pb.ScanResponse):
        span.set_attribute("hashwatch.verdict", pb.Verdict.Name(response.verdict).removeprefix("VERDICT_"))
        span.set_attribute("hashwatch.outcome", pb.Outcome.Name(response.outcome).removeprefix("OUTCOME_"))
        span.set_attribute("hashwatch.matches", len(response.matches))


def _end(span: Span, context: grpc.ServicerContext, failed: bool) -> None:
    from opentelemetry.trace import StatusCode

    code = code_name(context, failed)
    span.set_attribute("rpc.grpc.status_code", grpc.StatusCode[code].value[0])
    if code in _SERVER_ERRORS:
        span.set_status(StatusCode.ERROR, code)
    span.end()


def _unary(
    tracer: Tracer, behaviour: Callable[[Any, grpc.ServicerContext], Any], method: str, parent: Context | None
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        from opentelemetry import trace

        span = _start(tracer, method, parent)
        _request_fields(span, request)
        failed = True
        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                response = behaviour(request, context)
            _answer_fields(span, response)
            failed = False
            return response
        finally:
            _end(span, context, failed)

    return wrapped


def _stream(
    tracer: Tracer,
    behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
    method: str,
    parent: Context | None,
) -> Callable[..., Any]:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        # Not made current: a generator's context would be entered and left across yields.
        span = _start(tracer, method, parent)
        failed, answers, blocked = True, 0, 0
        try:
            for response in behaviour(request, context):
                answers += 1
                blocked += int(getattr(response, "verdict", 0) == pb.VERDICT_BLOCK)
                yield response
            failed = False
        finally:
            span.set_attribute("hashwatch.answers", answers)
            span.set_attribute("hashwatch.blocked", blocked)
            _end(span, context, failed)

    return wrapped
