"""Progress while a rescan runs: a bar on a terminal, plain lines otherwise (both on stderr)."""

from __future__ import annotations

import math
import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)


class Reporter(Protocol):
    def start(self, total: int, done: int) -> None: ...

    def update(self, done: int, matches: int) -> None: ...

    def stop(self) -> None: ...


def reporter_for(stream: TextIO | None = None, quiet: bool = False) -> Reporter:
    stream = stream or sys.stderr
    if quiet:
        return Silent()
    return Bar(stream) if stream.isatty() else Lines(stream)


class Silent:
    def start(self, total: int, done: int) -> None:
        pass

    def update(self, done: int, matches: int) -> None:
        pass

    def stop(self) -> None:
        pass


class _Rate:
    """Items per second since the first result: worker start-up is not throughput."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.first = 0

    def per_second(self, done: int) -> float:
        if self.started is None:
            self.started, self.first = time.monotonic(), done
            return 0.0
        elapsed = time.monotonic() - self.started
        return (done - self.first) / elapsed if elapsed > 0 else 0.0


class Lines:
    """One line every ``every_seconds``, and one at the end."""

    def __init__(self, stream: TextIO, every_seconds: float = 2.0) -> None:
        self.stream, self.every = stream, every_seconds
        self.total = self.done = self.matches = 0
        self.rate = _Rate()
        self.last = 0.0

    def start(self, total: int, done: int) -> None:
        self.total, self.done = total, done
        self.rate = _Rate()
        self.last = time.monotonic()
        if done:
            print(f"rescan: resuming at {done}/{total}", file=self.stream, flush=True)

    def update(self, done: int, matches: int) -> None:
        self.done, self.matches = done, matches
        self.rate.per_second(done)
        if time.monotonic() - self.last >= self.every:
            self._line()

    def stop(self) -> None:
        self._line()

    def _line(self) -> None:
        self.last = time.monotonic()
        rate = self.rate.per_second(self.done)
        eta = f"{(self.total - self.done) / rate:.0f}s" if rate > 0 else "?"
        percent = 100 * self.done / self.total if self.total else 100.0
        print(
            f"rescan: {self.done}/{self.total} ({percent:.0f}%) {rate:.1f}/s eta {eta}"
            f" matches {self.matches}",
            file=self.stream,
            flush=True,
        )


class Bar:
    """Rich redraws ten times a second; an update per item would cost the parent (which shares
    the cores with the workers) far more than the bar shows, so updates are passed on at most
    ``every_seconds`` apart, and the last one at the end."""

    def __init__(self, stream: TextIO, every_seconds: float = 0.1) -> None:
        self.progress = Progress(
            TextColumn("rescan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeRemainingColumn(),
            TextColumn("matches {task.fields[matches]}"),
            console=Console(file=stream),
        )
        self.task: TaskID | None = None
        self.rate = _Rate()
        self.every = every_seconds
        self.shown = -math.inf
        self.done = self.matches = 0

    def start(self, total: int, done: int) -> None:
        self.rate = _Rate()
        self.done, self.matches = done, 0
        self.shown = -math.inf
        self.task = self.progress.add_task("rescan", total=total, completed=done, matches=0, rate="")
        self.progress.start()

    def update(self, done: int, matches: int) -> None:
        self.done, self.matches = done, matches
        if time.monotonic() - self.shown >= self.every:
            self._show()

    def stop(self) -> None:
        self._show()
        self.progress.stop()

    def _show(self) -> None:
        self.shown = time.monotonic()
        if self.task is not None:
            rate = f"{self.rate.per_second(self.done):.1f}/s"
            self.progress.update(self.task, completed=self.done, matches=self.matches, rate=rate)
