"""``HashPool``: N hashing processes behind a bounded, first-come-first-served admission queue.

Why not ``concurrent.futures.ProcessPoolExecutor``: one worker dying marks the whole executor
broken (every pending future fails, and it must be rebuilt), it cannot kill the one process
that runs past a time limit, and it pickles calls and results. Here each request checks out one
process, talks to it over its own pipe, and a process that dies or overruns costs exactly that
request: it is killed and replaced while the others go on, and the request still gets the MD5
and SHA-1 of its bytes (computed here, a few milliseconds for the largest body accepted), so
exact-hash lists match it whatever the decoder did.

Processes come from multiprocessing's forkserver, a fresh interpreter that has imported only
the hashing code: they inherit no database connection, no gRPC state and no service threads,
and a replacement starts in milliseconds (a fork of the warm server, not a new interpreter).

The queue: a request that finds every process busy waits, in arrival order, unless
``queue_size`` requests are already waiting (``Overloaded``: RESOURCE_EXHAUSTED with a retry
delay) or its deadline passes first (``DeadlineExceeded``); either way nothing was hashed.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import structlog

from index.hashes import Algorithm
from scanner import deadline
from scanner.errors import DeadlineExceeded, Overloaded, Unavailable
from scanner.hashpool import wire, worker
from scanner.metrics import HASH_QUEUE_DEPTH, HASH_WORKERS_BUSY, REJECTED, STAGE_SECONDS, WORKER_RESTARTS
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashOutcome, byte_hashes

log = structlog.get_logger(__name__)

# One process per core: BLAS thread pools inside each would only fight over the same cores.
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_START_SECONDS = 60.0
_QUEUE_SECONDS = STAGE_SECONDS.labels("queue")
_HASH_SECONDS = STAGE_SECONDS.labels("hash")
_TRANSFER_SECONDS = STAGE_SECONDS.labels("transfer")


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    # One poll object per process, made once: Connection.poll builds a selector per call, a
    # cost paid twice per request on the serving process's busiest path.
    poller: select.poll = field(default_factory=select.poll)

    def __post_init__(self) -> None:
        self.poller.register(self.conn.fileno(), select.POLLIN)

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def readable(self, timeout: float) -> bool:
        """Whether the process has answered (or closed its end) within ``timeout`` seconds."""
        return bool(self.poller.poll(timeout * 1000))

    def stop(self, wait: float = 1.0) -> int | None:
        """Kill the process (if it still runs) and reap it; its exit code."""
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(wait)
        return self.process.exitcode


@dataclass(eq=False)
class _Waiter:
    event: threading.Event = field(default_factory=threading.Event)
    worker: _Worker | None = None


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class HashPool:
    def __init__(
        self,
        size: int,
        hashing: HashingConfig,
        *,
        queue_size: int = 32,
        timeout_seconds: float = 2.0,
        memory_mb: int = 0,
        log_level: str = "info",
        log_json: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError("a hashing pool needs at least one process")
        self.size = size
        self.hashing = hashing
        self.queue_size = queue_size
        self.timeout_seconds = timeout_seconds
        self._worker_args = (wire.encode_config(hashing), memory_mb, log_level, log_json)
        self._context = multiprocessing.get_context("forkserver")
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._waiters: deque[_Waiter] = deque()
        self._closed = False
        # Seconds per request per process, smoothed: the basis of the retry delay we advise.
        self._service_seconds = 0.01

    def start(self) -> None:
        """Start every process and wait until each has loaded the hashing code."""
        for name, value in _ONE_THREAD.items():
            os.environ.setdefault(name, value)
        # "__main__" too: each process would otherwise import the main module again on start
        # (multiprocessing's spawn semantics); preloaded, the fork server does it once.
        self._context.set_forkserver_preload(["__main__", "scanner.hashpool.worker"])
        # Before multiprocessing's own exit handler (atexit runs last-registered first), which
        # would wait forever for processes that ignore SIGTERM and still have their pipe open.
        atexit.register(self.close)
        launched = [self._launch() for _ in range(self.size)]
        for started in launched:
            self._check_in(self._await_ready(started))
        log.info("hashing processes started", processes=self.size, pids=self.pids())

    def hash(self, content: bytes, algorithms: Collection[Algorithm]) -> HashOutcome:
        queued = time.perf_counter()
        held = self._check_out(deadline.current())
        while held.readable(0):
            # An idle process never speaks first: it died while idle (the OOM killer, an
            # operator). Not this request's fault; take another.
            self._replace(held, "died_idle")
            held = self._check_out(deadline.current())
        _QUEUE_SECONDS.observe(time.perf_counter() - queued)
        return self._round_trip(held, content, algorithms)

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.pid for w in (*self._idle, *self._busy))

    def busy_pids(self) -> list[int]:
        with self._lock:
            return sorted(w.pid for w in self._busy)

    def close(self) -> None:
        """Stop every process; requests still waiting are answered UNAVAILABLE."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            while self._waiters:
                self._waiters.popleft().event.set()
        for held in workers:
            held.conn.close()  # the process sees the pipe close and exits
        for held in workers:
            held.process.join(2.0)
            held.stop()
        atexit.unregister(self.close)

    def _launch(self) -> tuple[BaseProcess, Connection]:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker.run, args=(theirs, *self._worker_args), name="hashwatch-hash", daemon=True
        )
        process.start()
        theirs.close()  # the child has its copy; ours closing lets each side see the other go
        return process, ours

    def _await_ready(self, started: tuple[BaseProcess, Connection]) -> _Worker:
        process, conn = started
        try:
            if conn.poll(_START_SECONDS) and conn.recv_bytes() == worker.READY:
                return _Worker(process, conn)
        except (EOFError, OSError):
            pass
        failed = _Worker(process, conn)
        code = failed.stop()
        raise RuntimeError(f"hashing process {failed.pid} did not start ({_describe_exit(code)})")

    def _check_out(self, until: float | None) -> _Worker:
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down")
            if self._idle and not self._waiters:
                held = self._idle.pop()
                self._busy.add(held)
                HASH_WORKERS_BUSY.set(len(self._busy))
                return held
            if len(self._waiters) >= self.queue_size:
                REJECTED.labels("queue_full").inc()
                raise Overloaded(
                    f"overloaded: {len(self._waiters)} requests already wait for a hashing process",
                    self._retry_after(),
                    "queue_full",
                )
            waiter = _Waiter()
            self._waiters.append(waiter)
            HASH_QUEUE_DEPTH.set(len(self._waiters))
        timeout = None if until is None else max(0.0, until - time.monotonic())
        waiter.event.wait(timeout)
        with self._lock:
            if waiter.worker is not None:
                return waiter.worker
            if self._closed:
                raise Unavailable("the server is shutting down")
            self._waiters.remove(waiter)
            HASH_QUEUE_DEPTH.set(len(self._waiters))
            REJECTED.labels("deadline").inc()
        raise DeadlineExceeded("the deadline passed while the request waited for a hashing process")

    def _check_in(self, held: _Worker) -> None:
        with self._lock:
            self._busy.discard(held)
            if self._closed:
                held.stop(0)
            elif self._waiters:
                # Straight to the longest waiter: a newcomer never overtakes the queue.
                waiter = self._waiters.popleft()
                waiter.worker = held
                self._busy.add(held)
                waiter.event.set()
                HASH_QUEUE_DEPTH.set(len(self._waiters))
            else:
                self._idle.append(held)
            HASH_WORKERS_BUSY.set(len(self._busy))

    def _retry_after(self) -> float:
        """Seconds until the queue ahead has likely drained (called with the lock held)."""
        ahead = len(self._waiters) + len(self._busy)
        return min(10.0, max(0.005, self._service_seconds * ahead / self.size))

    def _round_trip(self, held: _Worker, content: bytes, algorithms: Collection[Algorithm]) -> HashOutcome:
        started = time.perf_counter()
        try:
            held.conn.send_bytes(wire.encode_algorithms(algorithms))
            held.conn.send_bytes(content)
            if not held.readable(self.timeout_seconds):
                self._replace(held, "timeout")
                return HashOutcome(
                    Outcome.TIMEOUT,
                    byte_hashes(content, algorithms),
                    reason=f"decoding and hashing took longer than {self.timeout_seconds:g} s",
                )
            reply = held.conn.recv_bytes()
        except (EOFError, OSError):
            code = self._replace(held, "crash")
            return HashOutcome(
                Outcome.INTERNAL_ERROR,
                byte_hashes(content, algorithms),
                reason=f"the hashing process failed on this content ({_describe_exit(code)})",
            )
        self._check_in(held)
        outcome, worked = wire.decode_outcome(reply)
        elapsed = time.perf_counter() - started
        _HASH_SECONDS.observe(worked)
        _TRANSFER_SECONDS.observe(max(0.0, elapsed - worked))
        self._service_seconds += 0.05 * (elapsed - self._service_seconds)
        return outcome

    def _replace(self, held: _Worker, cause: str) -> int | None:
        """Kill ``held`` and start another in its place, in the background; the old exit code."""
        code = held.stop()
        WORKER_RESTARTS.labels(cause).inc()
        log.error("hashing process replaced", cause=cause, pid=held.pid, exit=_describe_exit(code))
        with self._lock:
            self._busy.discard(held)
            HASH_WORKERS_BUSY.set(len(self._busy))
        threading.Thread(target=self._restart, name="hash-restart", daemon=True).start()
        return code

    def _restart(self) -> None:
        pause = 0.1
        while not self._closed:
            try:
                replacement = self._await_ready(self._launch())
            except Exception as exc:  # keep trying: the pool is a process short until it works
                log.error("hashing process could not be restarted", error=str(exc)[:300])
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            self._check_in(replacement)
            return
