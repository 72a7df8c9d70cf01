"""Overload through a real server and client: a full queue and a customer over its rate are
refused at once with RESOURCE_EXHAUSTED and a RetryInfo delay; a request whose deadline passes
in the queue is dropped unhashed; a stream gets such answers per item and carries on."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from collections.abc import Iterator

import grpc
import pytest

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.errors import Overloaded
from scanner.rpc.ratelimit import RateLimiter
from tests.scanner.hashpool.pooled import LISTED, Pooled, eventually, pooled_server, sample, slow_png
from tests.scanner.serving import retry_delay

REJECTED = "hashwatch_rejected_total"


def _queue_depth_is(depth: int) -> bool:
    return sample("hashwatch_hash_queue_depth") == depth


@contextlib.contextmanager
def _filled(pooled: Pooled, waiting: int) -> Iterator[list[grpc.Future[pb.ScanResponse]]]:
    """One request hashing and ``waiting`` queued behind it. The hashing process is stopped
    (SIGSTOP) inside the block, so the queue stays as filled however slow the machine is."""
    futures: list[grpc.Future[pb.ScanResponse]] = [
        pooled.stub.Scan.future(pb.ScanRequest(request_id="busy", content=slow_png()), timeout=120)
    ]
    assert eventually(lambda: len(pooled.pool.busy_pids()) == 1)
    [busy] = pooled.pool.busy_pids()
    os.kill(busy, signal.SIGSTOP)
    try:
        for n in range(1, waiting + 1):
            request = pb.ScanRequest(request_id=f"queued{n}", content=slow_png())
            futures.append(pooled.stub.Scan.future(request, timeout=120))
            assert eventually(functools.partial(_queue_depth_is, n))
        yield futures
    finally:
        os.kill(busy, signal.SIGCONT)


def test_a_full_queue_answers_resource_exhausted_at_once_with_aretry_delay() -> None:
    with pooled_server(1, queue_size=1) as pooled:
        with _filled(pooled, waiting=1) as admitted:
            refused = sample(REJECTED, reason="queue_full")
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as error:
                pooled.stub.Scan(pb.ScanRequest(request_id="one too many", content=LISTED), timeout=30)
            assert time.monotonic() - started < 0.5
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert 0 < retry_delay(error.value) <= 10
            assert sample(REJECTED, reason="queue_full") == refused + 1

            # A stream is told per item, and goes on.
            items = iter([pb.ScanRequest(request_id="s1", content=LISTED)])
            [answer] = pooled.stub.ScanStream(items, timeout=30)
            assert (answer.request_id, answer.outcome) == ("s1", pb.OUTCOME_OVERLOADED)
            assert answer.verdict == pb.VERDICT_UNSPECIFIED
            assert answer.retry_after_ms > 0

        assert [f.result().outcome for f in admitted] == [pb.OUTCOME_LOW_QUALITY] * 2
        reply = pooled.stub.Scan(pb.ScanRequest(content=LISTED), timeout=30)
        assert reply.verdict == pb.VERDICT_BLOCK


def test_a_request_whose_deadline_passes_in_the_queue_is_dropped_unhashed() -> None:
    with pooled_server(1, queue_size=4) as pooled:
        hashed = sample("hashwatch_stage_seconds_count", stage="hash")
        with _filled(pooled, waiting=0) as [busy]:
            dropped = sample(REJECTED, reason="deadline")
            scan_dropped = sample("hashwatch_deadline_exceeded_total", method="Scan")
            with pytest.raises(grpc.RpcError) as error:
                pooled.stub.Scan(pb.ScanRequest(request_id="late", content=LISTED), timeout=0.4)
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert eventually(lambda: sample(REJECTED, reason="deadline") == dropped + 1)
            assert sample("hashwatch_deadline_exceeded_total", method="Scan") == scan_dropped + 1
            assert sample("hashwatch_hash_queue_depth") == 0
        assert busy.result().outcome == pb.OUTCOME_LOW_QUALITY
        # Only the slow image reached a hashing process.
        assert sample("hashwatch_stage_seconds_count", stage="hash") == hashed + 1


def test_a_customer_over_its_rate_is_refused_and_others_are_not() -> None:
    with pooled_server(1, rate_limit_per_second=0.5, rate_limit_burst=3) as pooled:
        refused = sample(REJECTED, reason="rate_limit")
        for n in range(3):
            reply = pooled.stub.Scan(pb.ScanRequest(request_id=f"a{n}", customer_id="a", content=LISTED))
            assert reply.verdict == pb.VERDICT_BLOCK
        with pytest.raises(grpc.RpcError) as error:
            pooled.stub.Scan(pb.ScanRequest(customer_id="a", content=LISTED), timeout=30)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "rate limit" in (error.value.details() or "")
        assert 0 < retry_delay(error.value) <= 2
        [answer] = pooled.stub.ScanStream(iter([pb.ScanRequest(customer_id="a", content=LISTED)]), timeout=30)
        assert answer.outcome == pb.OUTCOME_OVERLOADED and answer.retry_after_ms > 0
        assert sample(REJECTED, reason="rate_limit") == refused + 2
        reply = pooled.stub.Scan(pb.ScanRequest(customer_id="b", content=LISTED), timeout=30)
        assert reply.verdict == pb.VERDICT_BLOCK


def test_the_advised_delay_is_when_a_token_is_back() -> None:
    limiter = RateLimiter(rate=20, burst=2)
    limiter.admit("c")
    limiter.admit("c")
    with pytest.raises(Overloaded) as refused:
        limiter.admit("c")
    assert 0 < refused.value.retry_after <= 0.05
    time.sleep(refused.value.retry_after + 0.01)
    limiter.admit("c")
    with pytest.raises(Overloaded):
        limiter.admit("c")
