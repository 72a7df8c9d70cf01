"""A hashing process: content in, ``HashOutcome`` out, one request at a time, until the pipe closes.

It holds nothing but the decoder and the hash kernels: no database, no gRPC, no index. Its
address space is capped at its size once started plus ``memory_mb``, so a decode that would
outgrow that fails with ``MemoryError`` (an outcome) instead of pushing the machine into swap.
The cap is relative because the start size is mostly reservations (thread stacks, allocator
arenas, shared libraries) that differ from machine to machine and say nothing about images.
"""

from __future__ import annotations

import resource
import signal
import time
from multiprocessing.connection import Connection

import structlog

from scanner.hashpool import wire
from scanner.logs import configure
from scanner.pipeline import HashingConfig, hash_content
from scanner.warmup import warm_hashing

READY = b"ready"
MiB = 1024 * 1024


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def cap_memory(memory_mb: int) -> None:
    """Let this process grow by at most ``memory_mb`` MiB of address space from now on."""
    if memory_mb > 0:
        limit = _address_space() + memory_mb * MiB
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run(conn: Connection, config_json: str, memory_mb: int, log_level: str, log_json: bool) -> None:
    # Ctrl-C in a terminal, or a service manager's SIGTERM to the whole group, must not cut
    # short the drain: the service closes the pipe when it is done, and a closed pipe (the
    # service gone, however it went) ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure(log_level, log_json)
    config = wire.decode_config(config_json)
    # Before READY: the pool hands work only to a process that said it is ready, so neither a
    # first process nor a replacement makes a request pay for the first use of every algorithm.
    warm_hashing(config)
    cap_memory(memory_mb)
    conn.send_bytes(READY)
    try:
        _serve(conn, config)
    except Exception:
        # Through the service's log format (JSON, no local variables: the content is one), not
        # multiprocessing's plain traceback. The service sees the process go and replaces it.
        structlog.get_logger(__name__).exception("hashing process failed")
        raise SystemExit(1) from None


def _serve(conn: Connection, config: HashingConfig) -> None:
    while True:
        try:
            algorithms = wire.decode_algorithms(conn.recv_bytes())
            content = conn.recv_bytes()
        except (EOFError, OSError):  # the service closed the pipe (or died): nothing left to do
            return
        started = time.perf_counter()
        outcome = hash_content(content, algorithms, config)
        del content
        conn.send_bytes(wire.encode_outcome(outcome, time.perf_counter() - started))
