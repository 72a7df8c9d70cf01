"""The ``local`` engine: a process pool on this machine, one ``ItemWorker`` per process."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from index.hashes import Algorithm
from scanner.pipeline import HashingConfig
from scanner.rescan.ports import MatcherInputs
from scanner.rescan.sources import Item
from scanner.rescan.work import ItemResult, ItemWorker

_worker: ItemWorker | None = None


def _start_worker(inputs: MatcherInputs, hashing: HashingConfig, algorithms: tuple[Algorithm, ...]) -> None:
    global _worker
    _worker = ItemWorker(inputs, hashing, algorithms)


def _run_chunk(items: list[Item]) -> list[ItemResult]:
    assert _worker is not None, "worker process not initialised"
    return [_worker.run(item) for item in items]


class LocalEngine:
    def __init__(
        self,
        inputs: MatcherInputs,
        hashing: HashingConfig,
        algorithms: Sequence[Algorithm],
        jobs: int = 0,
        chunk: int = 8,
    ) -> None:
        self.jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
        self.chunk = chunk
        # spawn, not fork: the parent runs threads (progress display, database pools).
        self._pool = ProcessPoolExecutor(
            self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(inputs, hashing, tuple(algorithms)),
        )

    def warm_up(self) -> None:
        """Start every worker (and build its matcher) now rather than on the first items."""
        for future in [self._pool.submit(_run_chunk, []) for _ in range(self.jobs * 2)]:
            future.result()

    def results(self, items: Sequence[Item]) -> Iterator[ItemResult]:
        """Each item's result, in the order of ``items``; a bounded number of chunks in flight."""
        chunks = (list(items[i : i + self.chunk]) for i in range(0, len(items), self.chunk))
        pending: deque[Future[list[ItemResult]]] = deque()
        for chunk in chunks:
            pending.append(self._pool.submit(_run_chunk, chunk))
            if len(pending) >= self.jobs * 4:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
