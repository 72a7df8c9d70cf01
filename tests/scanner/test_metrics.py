"""/metrics over real HTTP from a real server, parsed with prometheus_client's own parser."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from reporting.destinations.admin import DestinationAdmin
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.app import make_worker
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.conftest import Running

LISTED = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
UNLISTED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_count_scans_index_outbox_and_delivery_failures(running: Running) -> None:
    app = running.app
    # A customer whose webhook is down: the outbox keeps the row and retries it.
    DestinationAdmin(app.store.engine, app.reporting).add(
        "shop",
        "webhook",
        {"url": f"http://127.0.0.1:{_closed_port()}/hook", "secret": "s" * 32, "allow_private": True},
    )
    endpoint = app.metrics(0)
    try:
        before = scrape(endpoint.port)
        blocked = running.stub.Scan(
            pb.ScanRequest(request_id="m1", content=LISTED, customer_id="shop", url="https://s/1"), timeout=30
        )
        assert blocked.verdict == pb.VERDICT_BLOCK
        for n in range(2):
            running.stub.Scan(pb.ScanRequest(request_id=f"m{n + 2}", content=UNLISTED), timeout=30)
        running.stub.Scan(pb.ScanRequest(request_id="m9", content=b"not an image"), timeout=30)
        after = scrape(endpoint.port)

        def delta(name: str, **labels: str) -> float:
            key = (name, tuple(sorted(labels.items())))
            return after.get(key, 0.0) - before.get(key, 0.0)

        assert delta("hashwatch_scans_total", verdict="block", outcome="scanned") == 1
        assert delta("hashwatch_scans_total", verdict="allow", outcome="scanned") == 2
        assert delta("hashwatch_scans_total", verdict="allow", outcome="unsupported_format") == 1
        assert delta("hashwatch_scan_seconds_count") == 4
        assert delta("hashwatch_rpcs_total", method="Scan", code="OK") == 4
        assert delta("hashwatch_rpc_seconds_count", method="Scan") == 4
        assert after[("hashwatch_index_entries", (("algorithm", "pdq"), ("list", "demo")))] == 3
        assert ("hashwatch_index_list_version", (("list", "demo"),)) in after
        assert after[("hashwatch_journal_pending", ())] == 0
        assert after[("hashwatch_outbox_up", ())] == 1
        # The cached outbox figures may predate the match; the next refresh sees its delivery.
        assert after[("hashwatch_outbox_depth", ())] >= 0

        worker = make_worker(app.store, app.reporting)
        assert worker.run_once() >= 1
        endpoint.stop()
        endpoint = app.metrics(0)  # a fresh endpoint: no cached outbox figures
        failed = scrape(endpoint.port)
        key = ("hashwatch_outbox_deliveries_total", (("outcome", "retry"), ("target", "destination")))
        assert failed.get(key, 0.0) - before.get(key, 0.0) == 1
        assert failed[("hashwatch_outbox_depth", ())] == 1
        assert failed[("hashwatch_outbox_oldest_age_seconds", ())] >= 0
    finally:
        endpoint.stop()
