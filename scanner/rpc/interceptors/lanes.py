"""Which threads run an RPC, and how many long-lived streams may be open at once.

gRPC's sync server runs each RPC on a pool thread for the RPC's whole life, and a stream waiting
for its client's next message holds that thread while it waits. With one pool for everything,
a few dozen streams opened and never fed left health checks and unary scans queued behind them
until they timed out. So RPCs run in lanes, each with threads of its own:

* ``health``: ``Health/Check``. It answers from memory; nothing else ever runs there, so a load
  balancer's check never waits behind scans.
* ``scan_stream``: ``ScanStream``, at most ``max_streams`` open at once.
* ``other_stream``: every other streaming RPC (``Health/Watch``, reflection, analytics exports),
  at most ``OTHER_STREAMS`` at once: none of them may take the threads of the others.
* everything else (unary RPCs): the server's main pool.

A stream past its lane's bound is refused at once ``RESOURCE_EXHAUSTED`` with a RetryInfo
(``Overloaded``, mapped by ``scanner.rpc.interceptors.errors``). A bounded lane keeps ``SPARE``
threads beyond its bound, so the refusal itself never waits behind the streams it refuses for.

Two interceptors share the lanes: ``LaneInterceptor``, outermost, names the pool (gRPC reads the
pool from the final behaviour's ``experimental_thread_pool``), and ``StreamBoundInterceptor``,
innermost, counts the streams, inside the auth check (a refused caller takes no place) and the
error mapping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from scanner.errors import Overloaded
from scanner.metrics import REJECTED, STREAMS_OPEN
from scanner.rpc.interceptors.handlers import Handler, Streaming, Unary, rewrap

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SCAN_STREAM = "/hashwatch.v1.Scanner/ScanStream"
# Watches, reflection sessions and exports at once; each is one operator's or balancer's tool.
OTHER_STREAMS = 16
SPARE = 4
HEALTH_THREADS = 2
# What a refused client is told to wait: a place frees when any stream ends, which cannot be
# foreseen; a second keeps a retrying client from spinning.
RETRY_SECONDS = 1.0


class Lane:
    def __init__(self, name: str, threads: int, bound: int | None = None) -> None:
        self.name = name
        self.bound = bound
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"rpc-{name}")
        self._open = 0
        self._lock = threading.Lock()
        self._gauge = STREAMS_OPEN.labels(name) if bound is not None else None

    def enter(self) -> None:
        """Take a place or raise ``Overloaded`` (a bounded lane's streams only)."""
        assert self.bound is not None and self._gauge is not None
        with self._lock:
            refused = self._open >= self.bound
            if not refused:
                self._open += 1
        if not refused:
            # inc/dec, not set: several servers in one process (tests, embedders) share the gauge.
            self._gauge.inc()
            return
        REJECTED.labels("stream_limit").inc()
        raise Overloaded(
            f"overloaded: {self.bound} streams of this kind are open, the most this server takes",
            RETRY_SECONDS,
            "stream_limit",
        )

    def leave(self) -> None:
        assert self._gauge is not None
        with self._lock:
            self._open -= 1
        self._gauge.dec()


class Lanes:
    def __init__(self, max_streams: int) -> None:
        self.health = Lane("health", HEALTH_THREADS)
        self.scan_stream = Lane("scan_stream", max_streams + SPARE, max_streams)
        self.other_stream = Lane("other_stream", OTHER_STREAMS + SPARE, OTHER_STREAMS)

    @property
    def capacity(self) -> int:
        """RPCs the lanes run at once, refusals included."""
        return HEALTH_THREADS + (self.scan_stream.bound or 0) + OTHER_STREAMS + 2 * SPARE

    def lane_for(self, method: str, handler: Handler) -> Lane | None:
        """The lane ``method`` runs in; None for the server's main pool."""
        if method == HEALTH_CHECK:
            return self.health
        if method == SCAN_STREAM:
            return self.scan_stream
        if handler.request_streaming or handler.response_streaming:
            return self.other_stream
        return None

    def shutdown(self) -> None:
        for lane in (self.health, self.scan_stream, self.other_stream):
            lane.pool.shutdown(wait=True, cancel_futures=True)


class _OnPool:
    """A behaviour gRPC runs on ``pool`` (it looks for ``experimental_thread_pool``)."""

    def __init__(self, behaviour: Callable[[Any, grpc.ServicerContext], Any], pool: ThreadPoolExecutor):
        self._behaviour = behaviour
        self.experimental_thread_pool = pool

    def __call__(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._behaviour(request, context)


class _LaneInterceptor(grpc.ServerInterceptor):
    def __init__(self, lanes: Lanes) -> None:
        self._lanes = lanes

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        lane = self._lanes.lane_for(handler_call_details.method, handler)
        return handler if lane is None else self._in_lane(handler, lane)

    def _in_lane(self, handler: Handler, lane: Lane) -> Handler:
        raise NotImplementedError


class LaneInterceptor(_LaneInterceptor):
    """Outermost: gRPC reads the pool off the final behaviour only."""

    def _in_lane(self, handler: Handler, lane: Lane) -> Handler:
        pool = lane.pool
        return rewrap(handler, lambda b: _OnPool(b, pool), lambda b: _OnPool(b, pool))


class StreamBoundInterceptor(_LaneInterceptor):
    def _in_lane(self, handler: Handler, lane: Lane) -> Handler:
        if lane.bound is None:
            return handler
        return rewrap(handler, lambda b: _bounded_unary(b, lane), lambda b: _bounded_stream(b, lane))


def _bounded_unary(behaviour: Unary, lane: Lane) -> Unary:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
        lane.enter()
        try:
            return behaviour(request, context)
        finally:
            lane.leave()

    return wrapped


def _bounded_stream(behaviour: Streaming, lane: Lane) -> Streaming:
    def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        # Runs when gRPC first asks for a response, on the lane's thread: a refusal costs it
        # an instant, and a place is held exactly as long as the stream runs.
        lane.enter()
        try:
            yield from behaviour(request, context)
        finally:
            lane.leave()

    return wrapped
