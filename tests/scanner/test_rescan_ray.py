"""The ``ray`` engine on a real local Ray: the same results as ``local`` on the same input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reporting.db import make_engine, migrate
from reporting.rescan_store import RescanStore
from reporting.store import Store
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan
from scanner.rescan.sources import directory_source
from scanner.rescan.work import ItemResult
from tests.conftest import _skip_or_fail
from tests.scanner.rescan_images import import_demo_list, make_images

# Ray Data's DataContext warns about its own deprecated fields whenever it is read: Ray's business.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:ray\.")


# Ray reads this one in lower case.
RAY_GCS_WAIT = "RAY_gcs_server_port_wait_time_s"


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        # Skips loudly, or fails when HASHWATCH_TEST_REQUIRE_SERVICES=1 (CI).
        _skip_or_fail("the ray engine tests need Ray: pip install -e '.[dev,ray]'")
    # Ray waits 30 s for its GCS server to come up; on a loaded 2-core machine that is not always
    # enough, and a timeout there is not what this test is about.
    previous = os.environ.get(RAY_GCS_WAIT)
    os.environ[RAY_GCS_WAIT] = "180"
    try:
        # Ray waits a fixed 30 s for its raylet to register; a slow start is retried (up to three
        # attempts, each after ray.shutdown()) rather than failing the test.
        for attempt in range(3):
            try:
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
                break
            except Exception:
                ray.shutdown()
                if attempt == 2:
                    raise
        yield ray
    finally:
        ray.shutdown()
        if previous is None:
            os.environ.pop(RAY_GCS_WAIT, None)
        else:
            os.environ[RAY_GCS_WAIT] = previous


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
