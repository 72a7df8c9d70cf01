"""A list whose policy does not block (``hashwatch lists policy NAME --no-block``): its matches are
recorded and notified and the scan is answered ALLOW, by a real server on port 0 with a real
database, a real outbox worker and a real webhook receiver; the running server follows the
policy through its list polling. Rescans and hash-log re-matches decide the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from index.matcher import ListConfig
from reporting import models
from reporting.destinations.admin import DestinationAdmin
from reporting.matches.rescans import RescanStore
from reporting.store import NewEntry, Store
from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app, make_worker
from scanner.cli.main import app as cli
from scanner.pipeline import HashingConfig, hash_content
from scanner.rescan.ports import LoggedScan
from scanner.rescan.runner import run_rescan, run_stored
from scanner.rescan.sources import Item, Source
from scanner.rescan.work import ItemResult, ItemWorker
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST
from tests.scanner.conftest import import_demo_list

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
ROCKET_HASHES = hash_content(ROCKET).hashes
SECRET = "no-block-webhook-secret"
runner = CliRunner()


@dataclass
class World:
    app: App
    stub: pb_grpc.ScannerStub
    receiver: WebhookReceiver


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """A server following list changes every 0.1 s, the demo list, a webhook for customer shop."""
    with WebhookReceiver(secret=SECRET) as receiver:
        settings = load_settings(
            port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2, list_poll_seconds=0.1
        )
        app = build_app(settings)
        import_demo_list(app)
        DestinationAdmin(app.store.engine, app.reporting).add(
            "shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True}
        )
        app.server.start()
        stop = threading.Event()
        watcher = threading.Thread(target=app.watch_lists, args=(stop,), daemon=True)
        watcher.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
        try:
            yield World(app, pb_grpc.ScannerStub(channel), receiver)
        finally:
            stop.set()
            watcher.join(10)
            channel.close()
            app.server.drain(grace_seconds=5)
            app.store.engine.dispose()


def _cli(app: App, *args: str) -> str:
    result = runner.invoke(cli, [*args, "--database-url", app.settings.resolved_database_url])
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def _demo(app: App) -> ListConfig:
    return next(c for c in app.matchers.current.configs().values() if c.name == "demo")


def _eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _scan(world: World, url: str) -> pb.ScanResponse:
    request = pb.ScanRequest(request_id=url, customer_id="shop", url=url, content=ROCKET)
    response: pb.ScanResponse = world.stub.Scan(request, timeout=30)
    return response


def _block_state(world: World, url: str) -> int:
    [block] = world.stub.Blocks(pb.BlocksRequest(customer_id="shop", urls=[url]), timeout=10).blocks
    return block.state


def test_a_no_block_list_is_recorded_and_notified_not_blocked_and_the_server_follows(world: World) -> None:
    app = world.app
    version = _demo(app).version
    assert '"block": false' in _cli(app, "lists", "policy", "demo", "--no-block")
    # A policy change is a new list version, which the server's list poll picks up.
    followed = _eventually(lambda: _demo(app).version > version)

    quiet = "https://shop.example/quiet.jpg"
    answer = _scan(world, quiet)
    assert answer.verdict == pb.VERDICT_ALLOW, answer
    assert followed and not _demo(app).block
    assert answer.match_id > 0 and not answer.queued_for_review
    assert answer.matches and {m.action for m in answer.matches} == {"record"}
    assert "recorded, not blocked: the policy of list demo does not block" in answer.reason
    assert _block_state(world, quiet) == pb.BLOCK_STATE_NONE
    [recorded] = app.store.matches()
    assert (recorded.id, recorded.verdict) == (answer.match_id, "allow")
    assert {h.action for h in recorded.hits} == {"record"}
    # Match, given the same hashes, says the same of each hit.
    matched = world.stub.Match(pb.MatchRequest(hashes=answer.hashes), timeout=10)
    assert matched.matches and {m.action for m in matched.matches} == {"record"}

    # Notified all the same: the outbox worker delivers the match event to the webhook.
    make_worker(app.store, app.reporting).drain()
    [event] = [e for e in world.receiver.events() if e["kind"] == "match"]
    assert (event["case_id"], event["payload"]["url"], event["payload"]["block"]) == (
        answer.match_id,
        quiet,
        "none",
    )
    assert world.receiver.valid_signatures()

    # Back to blocking: the running server follows on its next poll.
    version = _demo(app).version
    assert '"block": true' in _cli(app, "lists", "policy", "demo", "--block")
    assert _eventually(lambda: _demo(app).version > version), "the server did not follow"
    loud = "https://shop.example/loud.jpg"
    blocked = _scan(world, loud)
    assert blocked.verdict == pb.VERDICT_BLOCK and {m.action for m in blocked.matches} == {"block"}
    assert "not blocked" not in blocked.reason
    assert _block_state(world, loud) == pb.BLOCK_STATE_ACTIVE
    assert _block_state(world, quiet) == pb.BLOCK_STATE_NONE
    assert {m.url: m.verdict for m in app.store.matches()} == {quiet: "allow", loud: "block"}


class _InProcess:
    """Rescan results from the rescan's own per-item worker, without a process pool."""

    def __init__(self, worker: ItemWorker) -> None:
        self.worker = worker

    def results(self, items: Sequence[Item]) -> Iterator[ItemResult]:
        return (self.worker.run(item) for item in items)

    def configs(self) -> Mapping[int, ListConfig]:
        return self.worker.engine.matchers.current.configs()


def _blocks(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(models.Block)) or 0)


def test_rescans_and_hash_log_rematches_follow_the_same_policy(store: Store, tmp_path: Path) -> None:
    store.import_entries("quiet", [NewEntry(h) for h in ROCKET_HASHES])
    store.set_policy("quiet", {"block": False})
    rescans = RescanStore(store)

    listed = tmp_path / "rocket.jpg"
    listed.write_bytes(ROCKET)
    source = Source("one file", (Item(0, str(listed), "shop", "https://shop.example/rescanned.jpg"),))
    worker = ItemWorker(store.matcher_inputs(), HashingConfig())
    summary = run_rescan(source, _InProcess(worker), rescans)
    assert summary.recorded == 1

    since = datetime.now(UTC)
    logged = LoggedScan("shop", "https://shop.example/logged.jpg", "ab" * 32, ROCKET_HASHES, since)
    rescans.write_hash_log([logged])
    store.import_entries("late", [NewEntry(h) for h in ROCKET_HASHES])
    store.set_policy("late", {"block": False})
    assert run_stored(rescans, rescans, since).recorded == 1

    found = {m.url: m for m in store.matches()}
    assert set(found) == {"https://shop.example/rescanned.jpg", "https://shop.example/logged.jpg"}
    for match in found.values():
        assert match.verdict == "allow" and match.hits
        assert {h.action for h in match.hits} == {"record"}
    assert _blocks(store) == 0
