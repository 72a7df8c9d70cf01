"""A real ``hashwatch serve`` in a subprocess, for tests that read its log or its files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    log: Path
    # The ``address`` each awaited event logged ("serving": gRPC, "review page": the web page).
    addresses: dict[str, str]


def logged_address(text: str, event: str) -> str:
    """The ``address`` of the first ``event`` line of a log, JSON or console."""
    for line in text.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                return str(record["address"])
        elif re.search(rf"\] {event}\s", line) and (found := re.search(r"\baddress=(\S+)", line)):
            return found.group(1)
    return ""


@contextmanager
def hashwatch_serve(
    env: Mapping[str, str],
    log: Path,
    *args: str,
    wait_for: Sequence[str] = ("serving",),
    umask: int | None = None,
) -> Iterator[Served]:
    """``hashwatch serve ARGS`` with ``env`` over this process's environment (ports 0 unless
    given), its stderr in ``log``; yields once every event in ``wait_for`` is logged, and stops
    it with SIGTERM afterwards (``process.returncode`` is then its exit code)."""
    environment = {
        **os.environ,
        "HASHWATCH_PORT": "0",
        "HASHWATCH_METRICS_PORT": "0",
        "HASHWATCH_SHUTDOWN_DELAY_SECONDS": "0",
        **env,
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner", "serve", *args],
            env=environment,
            stderr=stderr,
            preexec_fn=None if umask is None else lambda: os.umask(umask),
        )
    try:
        deadline = time.monotonic() + 60
        addresses: dict[str, str] = {}
        while len(addresses) < len(wait_for) and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            text = log.read_text()
            addresses = {e: a for e in wait_for if (a := logged_address(text, e))}
            time.sleep(0.1)
        assert len(addresses) == len(wait_for), log.read_text()
        yield Served(process, log, addresses)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
