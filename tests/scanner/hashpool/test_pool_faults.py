"""Real hashing processes that crash, overrun their time or outgrow their memory: each costs
one request an error outcome, the process is replaced, and the service keeps answering."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from tests.scanner.hashpool.pooled import LISTED, eventually, pooled_server, sample, slow_png

RESTARTS = "hashwatch_hash_worker_restarts_total"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV])
def test_a_process_that_dies_mid_request_fails_only_that_request(signum: signal.Signals) -> None:
    with pooled_server(2) as pooled:
        before = set(pooled.pool.pids())
        restarts = sample(RESTARTS, cause="crash")
        doomed = pooled.stub.Scan.future(pb.ScanRequest(request_id="doomed", content=slow_png()), timeout=60)
        assert eventually(lambda: len(pooled.pool.busy_pids()) == 1)
        [victim] = pooled.pool.busy_pids()
        # Frozen mid-request (the image takes over a second), so it cannot finish first on a
        # slow machine; meanwhile the other process serves as usual.
        os.kill(victim, signal.SIGSTOP)
        assert pooled.stub.Scan(pb.ScanRequest(content=LISTED), timeout=30).verdict == pb.VERDICT_BLOCK
        os.kill(victim, signum)
        # A SIGKILLed process may already be reaped and replaced by the pool: nothing to wake.
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGCONT)
        answer = doomed.result(timeout=30)
        assert answer.outcome == pb.OUTCOME_INTERNAL_ERROR
        assert answer.request_id == "doomed"
        assert signal.Signals(signum).name in answer.reason
        assert sample(RESTARTS, cause="crash") == restarts + 1
        assert eventually(lambda: len(pooled.pool.pids()) == 2 and victim not in pooled.pool.pids())
        assert set(pooled.pool.pids()) - before and not os.path.exists(f"/proc/{victim}/status")
        for n in range(4):
            reply = pooled.stub.Scan(pb.ScanRequest(request_id=f"after{n}", content=LISTED), timeout=30)
            assert (reply.outcome, reply.verdict) == (pb.OUTCOME_SCANNED, pb.VERDICT_BLOCK)


def test_a_process_found_dead_between_requests_costs_no_request() -> None:
    with pooled_server(1) as pooled:
        [idle] = pooled.pool.pids()
        restarts = sample(RESTARTS, cause="died_idle")
        os.kill(idle, signal.SIGKILL)
        assert eventually(lambda: not os.path.exists(f"/proc/{idle}/cmdline") or _zombie(idle))
        reply = pooled.stub.Scan(pb.ScanRequest(content=LISTED), timeout=30)
        assert (reply.outcome, reply.verdict) == (pb.OUTCOME_SCANNED, pb.VERDICT_BLOCK)
        assert sample(RESTARTS, cause="died_idle") == restarts + 1
        assert idle not in pooled.pool.pids()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_an_image_over_the_time_limit_times_out_and_its_process_is_replaced() -> None:
    with pooled_server(1, timeout_seconds=0.3) as pooled:
        [first] = pooled.pool.pids()
        restarts = sample(RESTARTS, cause="timeout")
        started = time.monotonic()
        answer = pooled.stub.Scan(pb.ScanRequest(request_id="slow", content=slow_png()), timeout=30)
        elapsed = time.monotonic() - started
        assert answer.outcome == pb.OUTCOME_TIMEOUT
        assert "longer than 0.3 s" in answer.reason
        assert elapsed < 1.5
        assert sample(RESTARTS, cause="timeout") == restarts + 1
        # The overrunning process was killed, not left to finish in the background.
        assert eventually(lambda: _zombie(first) or not os.path.exists(f"/proc/{first}"), 5)
        reply = pooled.stub.Scan(pb.ScanRequest(content=LISTED), timeout=30)
        assert (reply.outcome, reply.verdict) == (pb.OUTCOME_SCANNED, pb.VERDICT_BLOCK)
        assert first not in pooled.pool.pids()


def test_a_decode_past_the_memory_ceiling_gets_a_clean_outcome() -> None:
    with pooled_server(1, memory_mb=100) as pooled:
        [pid] = pooled.pool.pids()
        # A 36 MP RGB image is 108 MB before any conversion: over the ceiling. Without it the
        # image is hashed (LOW_QUALITY: it is flat; see test_pool_scaling).
        answer = pooled.stub.Scan(pb.ScanRequest(content=slow_png()), timeout=60)
        assert answer.outcome == pb.OUTCOME_TOO_MANY_PIXELS
        assert "out of memory" in answer.reason
        reply = pooled.stub.Scan(pb.ScanRequest(content=LISTED), timeout=30)
        assert (reply.outcome, reply.verdict) == (pb.OUTCOME_SCANNED, pb.VERDICT_BLOCK)
        assert pooled.pool.pids() == [pid]
