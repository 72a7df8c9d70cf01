"""The ``local`` engine: a process pool on this machine, one ``ItemWorker`` per process.

The parent shares the cores with the workers, so what it spends per item is taken from them: it
sends chunks of locations and gets plain tuples back (``Reply``), and chunks are large while there
is plenty left and shrink towards the end, so the workers finish together instead of one waiting
for the other's last chunk.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from PIL import Image

from index.hashes import Algorithm
from index.matcher import ListConfig
from scanner.pipeline import HashingConfig
from scanner.rescan.fetch import PUBLIC_ONLY, FetchPolicy
from scanner.rescan.ports import MatcherInputs
from scanner.rescan.sources import Item
from scanner.rescan.work import ItemResult, ItemWorker, Reply

_worker: ItemWorker | None = None
# One process per core: BLAS (or numba) thread pools inside each would only fight over the same cores.
_ONE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Pool processes are started (spawned) inside ``submit``: they take the environment then."""
    saved = {name: os.environ.get(name) for name in _ONE_THREAD}
    os.environ.update({k: v for k, v in _ONE_THREAD.items() if saved[k] is None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def _start_worker(
    inputs: MatcherInputs, hashing: HashingConfig, algorithms: tuple[Algorithm, ...], fetching: FetchPolicy
) -> None:
    global _worker
    _worker = ItemWorker(inputs, hashing, algorithms, fetching)


def _warm() -> None:
    """Hash one small image: loads the compiled kernels before the first real item."""
    assert _worker is not None, "worker process not initialised"
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((64, 64)).convert("RGB").save(buffer, format="JPEG")
    _worker.engine.hash(buffer.getvalue())


def _run_chunk(locations: list[str]) -> list[Reply]:
    assert _worker is not None, "worker process not initialised"
    return [_worker.reply(location) for location in locations]


def chunk_sizes(total: int, jobs: int, largest: int) -> Iterator[int]:
    """Guided scheduling: each chunk a quarter of an even share of what is left, at most
    ``largest``, at least 1. Few round trips in the bulk; a short tail at the end."""
    left = total
    while left > 0:
        size = max(1, min(largest, -(-left // (jobs * 4))))
        yield size
        left -= size


class LocalEngine:
    def __init__(
        self,
        inputs: MatcherInputs,
        hashing: HashingConfig,
        algorithms: Sequence[Algorithm],
        jobs: int = 0,
        chunk: int = 32,
        fetching: FetchPolicy = PUBLIC_ONLY,
    ) -> None:
        self.jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
        # The largest chunk (items per task); the last ones are smaller.
        self.chunk = chunk
        self._configs = {config.list_id: config for config, _ in inputs}
        # spawn, not fork: the parent runs threads (progress display, database pools).
        self._pool = ProcessPoolExecutor(
            self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(inputs, hashing, tuple(algorithms), fetching),
        )

    def warm_up(self) -> None:
        """Start every worker, build its matcher and load its kernels now, not on the first items."""
        with _single_threaded_children():
            futures = [self._pool.submit(_warm) for _ in range(self.jobs * 2)]
        for future in futures:
            future.result()

    def configs(self) -> Mapping[int, ListConfig]:
        """The lists the workers match against."""
        return self._configs

    def _submit(self, chunk: Sequence[Item]) -> Future[list[Reply]]:
        with _single_threaded_children():
            return self._pool.submit(_run_chunk, [item.location for item in chunk])

    def results(self, items: Sequence[Item]) -> Iterator[ItemResult]:
        """Each item's result, in the order of ``items``; a bounded number of items in flight."""
        pending: deque[tuple[Sequence[Item], Future[list[Reply]]]] = deque()
        in_flight = start = 0
        for size in chunk_sizes(len(items), self.jobs, self.chunk):
            chunk = items[start : start + size]
            start += size
            pending.append((chunk, self._submit(chunk)))
            in_flight += size
            # A deep queue (~128 items a worker): workers keep going while the parent records a
            # match (or waits for a CPU on a busy machine). Bounded: matched items carry content.
            while in_flight >= self.jobs * max(128, 4 * self.chunk):
                done, future = pending.popleft()
                in_flight -= len(done)
                yield from map(ItemResult.from_reply, done, future.result())
        while pending:
            done, future = pending.popleft()
            yield from map(ItemResult.from_reply, done, future.result())

    def worker_pids(self) -> list[int]:
        """The pool's processes (for accounting their CPU time)."""
        return list(self._pool._processes or {})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
