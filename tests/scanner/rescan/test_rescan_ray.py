"""The ``ray`` engine on a real local Ray: the same results as ``local`` on the same input."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reporting.db import make_engine, migrate
from reporting.matches.rescans import RescanStore
from reporting.store import Store
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan
from scanner.rescan.sources import directory_source
from scanner.rescan.work import ItemResult
from tests.conftest import _skip_or_fail
from tests.scanner.rescan.rescan_images import import_demo_list, make_images

# Ray Data's DataContext warns about its own deprecated fields whenever it is read: Ray's business.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.")


# Ray reads this one in lower case.
RAY_GCS_WAIT = "RAY_gcs_server_port_wait_time_s"
RAY_START_ATTEMPTS = 3
RAY_START_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    """A local Ray cluster of its own, started with ``ray start`` as an operator would.

    Through the CLI, in a session of its own, rather than ``ray.init()`` in this process: Ray's
    daemons then live in one process group that teardown kills whole (workers included), and
    a start that fails (Ray waits a fixed 30 s for its raylet to register, which a loaded
    2-core machine has missed) leaves no half-started processes behind to be retried over.
    """
    try:
        import ray
    except ImportError:
        # Skips loudly, or fails when HASHWATCH_TEST_REQUIRE_SERVICES=1 (CI).
        _skip_or_fail("the ray engine tests need Ray: pip install -e '.[dev,ray]'")
    ray_cli = Path(sys.executable).with_name("ray")
    # Ray waits 30 s for its GCS server to come up; on a loaded machine that is not always enough.
    # A throwaway cluster for this test: no token to hand to the driver (this process runs with
    # Ray's default, which is to send none).
    env = {**os.environ, RAY_GCS_WAIT: "180", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    failures = []
    for attempt in range(RAY_START_ATTEMPTS):
        # Short: Ray's socket paths under it must fit the 107 bytes a Unix socket name may have.
        temp_dir = Path(tempfile.mkdtemp(prefix="hwray"))
        start = subprocess.Popen(
            [
                str(ray_cli),
                "start",
                "--head",
                "--port",
                "0",
                "--num-cpus",
                "2",
                "--include-dashboard",
                "false",
                "--disable-usage-stats",
                "--temp-dir",
                str(temp_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            output, _ = start.communicate(timeout=RAY_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(start)
            # Reads what it printed and closes the pipe (an open one would warn when collected).
            output = start.communicate()[0] + "\nray start timed out"
        address = re.search(r"ray start --address='([^']+)'", output)
        if start.returncode == 0 and address:
            break
        _kill_group(start)
        failures.append(f"attempt {attempt + 1}: {output[-2000:]}\n{_ray_logs(temp_dir)}")
        shutil.rmtree(temp_dir, ignore_errors=True)
    else:
        pytest.fail("Ray did not start:\n" + "\n".join(failures))
    assert address is not None
    try:
        ray.init(address=address.group(1), log_to_driver=False, configure_logging=False)
        yield ray
    finally:
        ray.shutdown()
        _kill_group(start)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _kill_group(leader: subprocess.Popen[str]) -> None:
    """Kill ``ray start`` and every daemon it left in its session (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    if leader.poll() is None:
        leader.kill()
    leader.wait()


def _ray_logs(temp_dir: Path) -> str:
    tails = []
    for name in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err"):
        for log in sorted(temp_dir.glob(f"session_*/logs/{name}")):
            tails.append(f"--- {log.name}:\n{log.read_text(errors='replace')[-1500:]}")
    return "\n".join(tails) or "(no Ray logs written)"


def _key(result: ItemResult) -> tuple[object, ...]:
    return (
        result.item,
        result.outcome,
        result.content_sha256,
        tuple((str(h.algorithm), h.hex, h.quality, h.frame) for h in result.hashes),
        tuple((h.list_name, h.entry_id, str(h.algorithm), h.distance) for h in result.hits),
        result.content,
    )


def test_ray_finds_what_local_finds(ray_session: Any, tmp_path: Path) -> None:
    from scanner.rescan.ray_engine import RayEngine

    images = make_images(tmp_path / "images", per_listed=12, per_unrelated=3)
    source = directory_source(images, "shop-3")
    engine = make_engine(f"sqlite:///{tmp_path / 'hw.db'}")
    migrate(engine)
    store = Store(engine)
    import_demo_list(store)
    inputs = store.matcher_inputs()
    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=2) as local:
        expected = [_key(r) for r in local.results(source.items)]
    ray_engine = RayEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, actors=2, batch_size=8)
    try:
        assert [_key(r) for r in ray_engine.results(source.items)] == expected
        matched = sum(1 for key in expected if key[4])
        assert matched >= 30
        summary = run_rescan(source, ray_engine, RescanStore(store), engine_name="ray")
        assert (summary.matched, summary.recorded) == (matched, matched)
        assert {m.url for m in store.matches(limit=1000)} == {key[0].url for key in expected if key[4]}  # type: ignore[attr-defined]
    finally:
        ray_engine.close()
        engine.dispose()
