"""A running server follows list changes in place, without a restart or a failed request."""

from __future__ import annotations

import random
import threading
import time

import grpc

from index.hashes import Algorithm, Hash
from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from tests.conftest import DEMO_UNLISTED
from tests.scanner.conftest import Running

rng = random.Random(5)


def _pdq() -> Hash:
    return Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))


def test_entries_added_to_a_running_server_take_effect_without_a_failed_request(running: Running) -> None:
    app = running.app
    stop = threading.Event()
    app.settings = app.settings.model_copy(update={"list_poll_seconds": 0.2})
    watcher = threading.Thread(target=app.watch_lists, args=(stop,))
    watcher.start()
    image = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
    failures: list[BaseException] = []
    verdicts: list[int] = []

    def scan_forever() -> None:
        while not stop.is_set():
            try:
                verdicts.append(
                    running.stub.Scan(
                        pb.ScanRequest(content=image, url="u", customer_id="c"), timeout=30
                    ).verdict
                )
            except grpc.RpcError as exc:
                failures.append(exc)

    scanner = threading.Thread(target=scan_forever)
    scanner.start()
    try:
        hashed = running.stub.Hash(pb.HashRequest(content=image), timeout=30)
        pdq = next(h for h in hashed.hashes if h.algorithm == pb.ALGORITHM_PDQ)
        noise = [NewEntry(_pdq()) for _ in range(5000)]
        app.store.import_entries("new-list", [*noise, NewEntry(Hash.from_hex("pdq", pdq.hex), "added-live")])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pb.VERDICT_BLOCK not in verdicts:
            time.sleep(0.05)
    finally:
        stop.set()
        scanner.join(30)
        watcher.join(30)
    assert failures == []
    assert pb.VERDICT_BLOCK in verdicts
    assert verdicts[0] == pb.VERDICT_ALLOW
    assert app.matchers.current.sizes()["new-list"] == {Algorithm.PDQ: 5001}
