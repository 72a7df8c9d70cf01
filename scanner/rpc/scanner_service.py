"""The ``hashwatch.v1.Scanner`` servicer: transport glue around ``ScanEngine``."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import grpc
import structlog

from index.hashes import Algorithm
from scanner import deadline
from scanner.addresses import peer_address
from scanner.analytics.counter import ScanCounter
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.auth import current_principal
from scanner.engine import ScanEngine
from scanner.errors import DeadlineExceeded, InvalidRequest, Overloaded, Unavailable
from scanner.metrics import DEADLINE_EXCEEDED
from scanner.outcomes import Outcome
from scanner.recording import BlockReader
from scanner.rpc import convert
from scanner.rpc.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

_END = object()


MAX_BLOCK_URLS = 1000


class ScannerService(pb_grpc.ScannerServicer):
    def __init__(
        self,
        engine: ScanEngine,
        blocks: BlockReader,
        workers: ThreadPoolExecutor,
        stream_window: int = 64,
        limiter: RateLimiter | None = None,
        counter: ScanCounter | None = None,
        *,
        stream_idle_seconds: float = 60.0,
        max_match_hashes: int = 1000,
        match_limiter: RateLimiter | None = None,
    ) -> None:
        self.engine = engine
        self.limiter = limiter
        # Match is not a customer's scan: its requests are counted per caller (``_caller``).
        self.match_limiter = match_limiter
        self.max_match_hashes = max_match_hashes
        self.stream_idle_seconds = stream_idle_seconds
        # Per-customer scan counts (docs/analytics.md); in memory, flushed off this path.
        self.counter = counter
        self.blocks = blocks
        self._workers = workers
        # How many requests of one stream may be in flight at once; past that the stream stops
        # reading, and HTTP/2 flow control pushes back on the client.
        self._stream_window = stream_window

    def Scan(self, request: pb.ScanRequest, context: grpc.ServicerContext) -> pb.ScanResponse:
        _drop_if_expired(context, "Scan")
        if self.limiter is not None:
            self.limiter.admit(request.customer_id)
        try:
            with deadline.within(context.time_remaining()):
                return self._scan(request)
        except DeadlineExceeded:
            DEADLINE_EXCEEDED.labels("Scan").inc()
            raise

    def ScanStream(
        self, request_iterator: Iterator[pb.ScanRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.ScanResponse]:
        results: queue.Queue[object] = queue.Queue()
        slots = threading.Semaphore(self._stream_window)
        submitted = 0
        last_request = time.monotonic()

        def feed() -> None:
            nonlocal submitted, last_request
            try:
                for request in request_iterator:
                    last_request = time.monotonic()
                    while not slots.acquire(timeout=0.5):
                        if not context.is_active():
                            return
                    future = self._workers.submit(self._stream_item, request, context)
                    future.add_done_callback(results.put)
                    submitted += 1
            except Exception as exc:  # the client went away mid-stream
                log.info("scan stream input ended", error=str(exc))
            finally:
                results.put(_END)

        threading.Thread(target=feed, name="scan-stream-feed", daemon=True).start()
        answered = 0
        feeding = True
        last_answer = time.monotonic()

        def quiet() -> float:
            return time.monotonic() - max(last_request, last_answer)

        while feeding or answered < submitted:
            try:
                item = results.get(timeout=max(0.05, self.stream_idle_seconds - quiet()))
            except queue.Empty:
                # Idle: nothing asked and nothing in flight. Such a stream still holds two
                # threads and one of the server's ``max_streams`` places: it is closed.
                if answered == submitted and quiet() >= self.stream_idle_seconds:
                    raise Unavailable(
                        f"no request on this stream for {self.stream_idle_seconds:g} s: closed; "
                        "open a new stream to scan more"
                    ) from None
                continue
            if item is _END:
                feeding = False
                continue
            assert isinstance(item, Future)
            slots.release()
            answered += 1
            last_answer = time.monotonic()
            response = item.result()
            if response is not None:
                yield response

    def Hash(self, request: pb.HashRequest, context: grpc.ServicerContext) -> pb.HashResponse:
        _drop_if_expired(context, "Hash")
        started = time.perf_counter()
        # None asked for: every algorithm (the proto's contract), not only what a scan computes.
        algorithms = [convert.algorithm_from_pb(a) for a in request.algorithms] or list(Algorithm)
        try:
            with deadline.within(context.time_remaining()):
                outcome = self.engine.hash(request.content, algorithms)
        except DeadlineExceeded:
            DEADLINE_EXCEEDED.labels("Hash").inc()
            raise
        return convert.hash_response(request.request_id, outcome, int((time.perf_counter() - started) * 1e6))

    def Match(self, request: pb.MatchRequest, context: grpc.ServicerContext) -> pb.MatchResponse:
        _drop_if_expired(context, "Match")
        # Counted on the parsed message, before a single hash is converted or searched.
        if len(request.hashes) > self.max_match_hashes:
            raise InvalidRequest(
                f"at most {self.max_match_hashes} hashes per Match request; this one has "
                f"{len(request.hashes)}: split it",
                field="hashes",
            )
        if self.match_limiter is not None:
            self.match_limiter.admit(_caller(context))
        convert.require_storable("customer_id", request.customer_id, convert.CONTEXT_LIMITS["customer_id"])
        hashes = [convert.hash_from_pb(h) for h in request.hashes]
        return convert.match_response(self.engine.match(hashes, request.customer_id))

    def Blocks(self, request: pb.BlocksRequest, context: grpc.ServicerContext) -> pb.BlocksResponse:
        if not request.customer_id:
            raise InvalidRequest("customer_id is required", field="customer_id")
        if len(request.urls) > MAX_BLOCK_URLS:
            raise InvalidRequest(f"at most {MAX_BLOCK_URLS} URLs per request", field="urls")
        convert.require_storable("customer_id", request.customer_id)
        for url in request.urls:
            convert.require_storable("urls", url)
        statuses = self.blocks.block_status(request.customer_id, list(request.urls))
        return convert.blocks_response(request.customer_id, statuses)

    def _stream_item(self, request: pb.ScanRequest, context: grpc.ServicerContext) -> pb.ScanResponse | None:
        # Items wait here behind the stream window; once the stream's deadline has passed
        # nobody can read the answer, so the work is skipped.
        if _expired(context):
            DEADLINE_EXCEEDED.labels("ScanStream").inc()
            return None
        # Overload is answered per item: the rest of the stream may still get through.
        try:
            if self.limiter is not None:
                self.limiter.admit(request.customer_id)
            with deadline.within(context.time_remaining()):
                return self._scan(request)
        except Overloaded as exc:
            return _not_scanned(request, str(exc), exc.retry_after)
        except Unavailable as exc:
            return _not_scanned(request, str(exc), 1.0)
        except DeadlineExceeded:
            DEADLINE_EXCEEDED.labels("ScanStream").inc()
            return None

    def _scan(self, request: pb.ScanRequest) -> pb.ScanResponse:
        context = convert.context_from_pb(request)  # InvalidRequest is the caller's, not a bug
        try:
            result = self.engine.scan(request.content, context)
        except (Overloaded, DeadlineExceeded, Unavailable):
            raise  # nothing was done: the caller may retry, and is told so
        except Exception:
            # The pipeline turns bad content into outcomes; reaching here is a bug, and the edge
            # still gets an answer it can act on rather than an RPC error.
            log.exception("scan failed", request_id=request.request_id)
            if self.counter is not None:
                self.counter.count(request.customer_id, Outcome.INTERNAL_ERROR._value_, "allow")
            return pb.ScanResponse(
                request_id=request.request_id,
                verdict=pb.VERDICT_ALLOW,
                outcome=convert.OUTCOME_TO_PB[Outcome.INTERNAL_ERROR],
                reason="internal error; see the server log",
            )
        if self.counter is not None:
            # ``_value_`` is the plain attribute behind ``.value``, a Python-level property.
            self.counter.count(request.customer_id, result.hashing.outcome._value_, result.verdict._value_)
        return convert.scan_response(request.request_id, result)


def _not_scanned(request: pb.ScanRequest, reason: str, retry_after: float) -> pb.ScanResponse:
    return pb.ScanResponse(
        request_id=request.request_id,
        outcome=convert.OUTCOME_TO_PB[Outcome.OVERLOADED],
        reason=reason,
        retry_after_ms=max(1, round(retry_after * 1000)),
    )


def _caller(context: grpc.ServicerContext) -> str:
    """Who a Match is counted against: the token's actor (``token:<id>``) when the server
    checks tokens, else the client's address, so clients behind one address share a budget."""
    principal = current_principal()
    if principal is not None:
        return principal.actor
    return peer_address(context.peer()) or "(unknown address)"


def _expired(context: grpc.ServicerContext) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


def _drop_if_expired(context: grpc.ServicerContext, method: str) -> None:
    """A request that waited in the queue past its deadline is answered at once, unworked:
    the caller has given up, and hashing it would only delay the requests behind it."""
    if _expired(context):
        DEADLINE_EXCEEDED.labels(method).inc()
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the request was handled")
