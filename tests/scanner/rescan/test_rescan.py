"""Rescans against real databases and real process pools: the matches are the service's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from index.matcher import Matcher
from reporting import models
from reporting.matches.rescans import RescanStore
from reporting.store import Store
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.recording import InMemoryRecorder, ScanContext
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan
from scanner.rescan.sources import Source, directory_source, manifest_source
from tests.conftest import ROOT
from tests.scanner.rescan.rescan_images import import_demo_list, make_images

CUSTOMER = "shop-17"
Found = set[tuple[str, str, frozenset[tuple[str, str, str, int]]]]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_images(tmp_path_factory.mktemp("rescan") / "images")


def service_finds(store: Store, source: Source) -> Found:
    """What ``ScanEngine.scan`` (the service's scan) matches for each file, keyed by DB-free names."""
    recorder = InMemoryRecorder()
    engine = ScanEngine(HashingConfig(), MatcherHolder(Matcher(store.matcher_inputs())), recorder)
    external = _external_ids(store)
    for item in source.items:
        engine.scan(Path(item.location).read_bytes(), ScanContext(customer_id=item.customer_id, url=item.url))
    return {
        (
            m.context.customer_id,
            m.context.url,
            frozenset((h.list_name, external[h.entry_id], str(h.algorithm), h.distance) for h in m.hits),
        )
        for m in recorder.matches
    }


def recorded(store: Store) -> Found:
    return {
        (m.customer_id, m.url, frozenset((h.list, h.external_id, h.algorithm, h.distance) for h in m.hits))
        for m in store.matches(limit=100_000)
    }


def _external_ids(store: Store) -> dict[int, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(models.ListEntry.id, models.ListEntry.external_id)).all())


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            model.__tablename__: int(conn.scalar(select(func.count()).select_from(model)) or 0)
            for model in (models.Match, models.Block, models.Event, models.Delivery, models.RescanSeen)
        }


def test_a_rescan_finds_what_the_service_finds_and_a_second_run_adds_nothing(
    store: Store, images: Path, tmp_path: Path
) -> None:
    import_demo_list(store)
    store_destination(store)
    source = directory_source(images, CUSTOMER)
    expected = service_finds(store, source)
    assert len(expected) > 150, "most transformed copies of listed images should match"
    rescans = RescanStore(store)
    with LocalEngine(store.matcher_inputs(), HashingConfig(), DEFAULT_ALGORITHMS, jobs=2) as engine:
        first = run_rescan(source, engine, rescans, checkpoint_path=tmp_path / "cp.json", checkpoint_every=25)
        assert recorded(store) == expected
        assert (first.files, first.matched, first.recorded) == (
            len(source.items),
            len(expected),
            len(expected),
        )
        assert first.skipped == {"corrupt": 1, "empty": 1, "unsupported_format": 1}
        assert first.scanned == len(source.items) - 3
        with store.engine.connect() as conn:
            assert set(conn.scalars(select(models.Match.source))) == {"rescan"}
        before = counts(store)
        assert before["deliveries"] == len(expected), "each match is sent to the customer's destination"
        second = run_rescan(source, engine, rescans, checkpoint_path=tmp_path / "cp.json")
    assert (second.matched, second.recorded, second.already_recorded) == (len(expected), 0, len(expected))
    assert counts(store) == before
    assert not (tmp_path / "cp.json").exists(), "a finished run leaves no checkpoint"


def store_destination(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(models.Destination).values(
                customer_id=CUSTOMER,
                kind="webhook",
                name="hooks",
                config={"url": "https://hooks.shop.example/hw"},
                mode="immediate",
                enabled=True,
                created_at=models.utcnow(),
            )
        )


def test_killed_half_way_and_resumed_it_finishes_with_the_same_result(images: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    database_url = f"sqlite:///{data_dir / 'hashwatch.db'}"
    env = {**os.environ, "HASHWATCH_LOG_JSON": "false", "HASHWATCH_LOG_LEVEL": "warning"}
    hashwatch = [sys.executable, "-m", "scanner"]
    checkpoint = tmp_path / "cp.json"
    args = [
        *hashwatch, "rescan", str(images), "--customer", CUSTOMER, "--jobs", "1", "--json", "-q",
        "--data-dir", str(data_dir), "--checkpoint", str(checkpoint), "--checkpoint-every", "5",
    ]  # fmt: skip
    subprocess.run(
        [*hashwatch, "lists", "import", str(ROOT / "demo" / "list"), "--list", "demo", "--format", "images",
         "--data-dir", str(data_dir)],
        check=True, env=env, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    run = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    position = 0
    while time.monotonic() < deadline and run.poll() is None:
        try:
            position = json.loads(checkpoint.read_text())["position"]
        except (OSError, ValueError):
            position = 0
        if position > 0:
            os.killpg(run.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    run.wait(timeout=30)
    assert run.stdout is not None
    run.stdout.close()
    assert run.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    total = len(directory_source(images).items)
    assert 0 < json.loads(checkpoint.read_text())["position"] < total

    resumed = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    summary = json.loads(resumed.stdout)
    assert summary["resumed_at"] > 0
    from reporting.db import make_engine

    engine = make_engine(database_url)
    store = Store(engine)
    try:
        expected = service_finds(store, directory_source(images, CUSTOMER))
        assert recorded(store) == expected
        assert summary["matched"] == len(expected)
        assert summary["files"] == total and summary["scanned"] == total - 3
        assert counts(store)["matches"] == len(expected)
        again = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        assert json.loads(again.stdout)["recorded"] == 0
        assert recorded(store) == expected and counts(store)["matches"] == len(expected)
    finally:
        engine.dispose()


def test_manifests_give_each_row_its_customer_and_url(tmp_path: Path, images: Path) -> None:
    one = next((images / "listed" / "skimage_rocket").iterdir())
    (tmp_path / "m.csv").write_text(f"path,customer,url\n{one},a,https://a.example/1.jpg\nmissing.jpg,,\n")
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": str(one), "customer": "b", "url": "https://b.example/x"}) + "\n\n"
        + json.dumps({"location": "https://cdn.example/y.jpg"}) + "\n"
    )  # fmt: skip
    csv_items = manifest_source(tmp_path / "m.csv", "default").items
    assert [(i.location, i.customer_id, i.url) for i in csv_items] == [
        (str(one), "a", "https://a.example/1.jpg"),
        (str(tmp_path / "missing.jpg"), "default", (tmp_path / "missing.jpg").as_uri()),
    ]
    json_items = manifest_source(tmp_path / "m.jsonl").items
    assert [(i.location, i.customer_id, i.url) for i in json_items] == [
        (str(one), "b", "https://b.example/x"),
        ("https://cdn.example/y.jpg", "", "https://cdn.example/y.jpg"),
    ]
