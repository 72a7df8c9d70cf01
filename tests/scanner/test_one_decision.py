"""One decision step for every caller: the same content through ``Scan``, ``Match``, a file rescan
and a hash-log re-match gets the same verdict, the same action on each hit and the same block,
notification and report, by a real server on port 0 with a real database (SQLite and
PostgreSQL); policies changed in the database reach the server through its list polling."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from index.hashes import Algorithm, Hash
from reporting import models
from reporting.db import session_factory
from reporting.matches.rescans import RescanStore
from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.customer_policy import CustomerPolicy, PolicyChanges
from scanner.pipeline import DEFAULT_ALGORITHMS
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan, run_stored
from scanner.rescan.sources import Item, Source
from scanner.settings import load_settings
from tests.conftest import DEMO_LIST

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
PERCEPTUAL = (Algorithm.PDQ, Algorithm.PHASH)
SCANNED = "https://shop.example/scanned.jpg"
RESCANNED = "https://shop.example/rescanned.jpg"
LOGGED = "https://shop.example/logged.jpg"

# (list, entry id, algorithm, distance, action), sorted.
Hits = tuple[tuple[str, int, str, int, str], ...]


@dataclass(frozen=True)
class ListSpec:
    name: str
    policy: dict[str, Any] = field(default_factory=dict)
    kind: str = "match"
    # Which of the content's hashes the list holds.
    algorithms: tuple[Algorithm, ...] = (Algorithm.PDQ, Algorithm.PHASH, Algorithm.MD5, Algorithm.SHA1)


@dataclass(frozen=True)
class Case:
    lists: tuple[ListSpec, ...]
    # What every caller must say: the verdict, each hit's action (by list), and for a recorded
    # match its verdict, its block, its events and its reports.
    verdict: int
    actions: dict[str, set[str]]
    recorded: str | None
    block: str
    events: frozenset[str]
    reports: tuple[str, ...]
    reason: str = ""
    customer: str = "shop"
    customer_lists: tuple[str, ...] = ()


CASES = {
    "no-block list": Case(
        (ListSpec("quiet", {"block": False}),),
        pb.VERDICT_ALLOW,
        {"quiet": {"record"}},
        "allow",
        "none",
        frozenset({"match"}),
        (),
        "recorded, not blocked: the policy of list quiet does not block",
    ),
    "report immediately": Case(
        (ListSpec("ncmec", {"report": "immediately", "partner": "cybertipline"}),),
        pb.VERDICT_BLOCK,
        {"ncmec": {"block"}},
        "block",
        "active",
        frozenset({"match", "report"}),
        ("cybertipline",),
    ),
    "negative list": Case(
        (
            ListSpec("known", algorithms=PERCEPTUAL),
            ListSpec("benign", kind="negative", algorithms=PERCEPTUAL),
        ),
        pb.VERDICT_ALLOW,
        {},
        None,
        "none",
        frozenset(),
        (),
        "2 perceptual hit(s) suppressed by negative list benign",
    ),
    "customer with narrowed lists": Case(
        (ListSpec("excluded", {"report": "immediately"}), ListSpec("chosen", {"block": False})),
        pb.VERDICT_ALLOW,
        {"chosen": {"record"}},
        "allow",
        "none",
        frozenset({"match"}),
        (),
        "recorded, not blocked: the policy of list chosen does not block",
        customer="shop-narrow",
        customer_lists=("chosen",),
    ),
}


@dataclass
class Served:
    app: App
    stub: pb_grpc.ScannerStub


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A server logging every scan's hashes (retroactive matching left to the test)."""
    monkeypatch.setenv("HASHWATCH_HASH_LOG_CUSTOMERS", "*")
    monkeypatch.setenv("HASHWATCH_RETRO_MATCH_SECONDS", "0")
    app = build_app(load_settings(port=0, data_dir=tmp_path / "var", database_url=database_url, threads=2))
    app.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield Served(app, pb_grpc.ScannerStub(channel))
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


def _scan(served: Served, url: str, customer: str = "shop") -> pb.ScanResponse:
    request = pb.ScanRequest(request_id=url, customer_id=customer, url=url, content=ROCKET)
    response: pb.ScanResponse = served.stub.Scan(request, timeout=30)
    return response


def _hits(matches: Any) -> Hits:
    return tuple(sorted((m.list, m.entry_id, str(m.algorithm), m.distance, m.action) for m in matches))


def _pb_hits(matches: Any) -> Hits:
    names = {pb.ALGORITHM_PDQ: "pdq", pb.ALGORITHM_PHASH: "phash", pb.ALGORITHM_MD5: "md5"}
    names |= {pb.ALGORITHM_SHA1: "sha1"}
    return tuple(sorted((m.list, m.entry_id, names[m.algorithm], m.distance, m.action) for m in matches))


def _recorded(app: App, customer: str) -> dict[str, tuple[str, Hits, str, frozenset[str], tuple[str, ...]]]:
    """Per URL, the recorded match: verdict, hits, block state, event kinds, report partners."""
    found = {}
    with session_factory(app.store.engine)() as session:
        for match in app.store.matches(limit=100):
            [block] = app.store.block_status(customer, [match.url])
            events = session.scalars(select(models.Event.kind).where(models.Event.case_id == match.id))
            reports = session.scalars(select(models.Report.partner).where(models.Report.match_id == match.id))
            found[match.url] = (
                match.verdict,
                _hits(match.hits),
                block.state,
                frozenset(events),
                tuple(sorted(reports)),
            )
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_scan_match_rescan_and_hash_log_rematch_decide_alike(
    served: Served, name: str, tmp_path: Path
) -> None:
    case, app = CASES[name], served.app
    for spec in case.lists:
        app.store.ensure_list(spec.name, kind=spec.kind)
    if case.customer_lists:
        # The server's customer settings, as its customer poll fills them (an enabled customer
        # needs a verified email address: docs/customers.md).
        assert app.customers is not None
        narrowed = CustomerPolicy(case.customer, frozenset(case.customer_lists))
        app.customers.apply(PolicyChanges(app.customers.version + 1, (narrowed,), ()))
    # Logged before any list holds the content: only the hash-log re-match can find it.
    assert not _scan(served, LOGGED, case.customer).matches
    assert app.hash_log is not None and app.hash_log.flush() == 1
    since = datetime.now(UTC)
    hashes = app.engine.hash(ROCKET).hashes
    for spec in case.lists:
        app.store.import_entries(spec.name, [NewEntry(h) for h in hashes if h.algorithm in spec.algorithms])
        if spec.policy:
            app.store.set_policy(spec.name, spec.policy)
    app.sync_lists()  # what a running server's list poll does

    scanned = _scan(served, SCANNED, case.customer)
    matched = served.stub.Match(pb.MatchRequest(hashes=scanned.hashes, customer_id=case.customer), timeout=10)

    listed = tmp_path / "rocket.jpg"
    listed.write_bytes(ROCKET)
    source = Source("one file", (Item(0, str(listed), case.customer, RESCANNED),))
    rescans = RescanStore(app.store)
    with LocalEngine(app.store.matcher_inputs(), app.settings.hashing, DEFAULT_ALGORITHMS, jobs=1) as local:
        rescanned = run_rescan(source, local, rescans, customers=app.customers)
    stored = run_stored(rescans, rescans, since, customers=app.customers)

    # The edge's answer, from Scan and from Match alike.
    for answer in (scanned, matched):
        assert answer.verdict == case.verdict, name
        by_list: dict[str, set[str]] = {}
        for hit in answer.matches:
            by_list.setdefault(hit.list, set()).add(hit.action)
        assert by_list == case.actions, name
        assert case.reason in answer.reason
    assert _pb_hits(matched.matches) == _pb_hits(scanned.matches)
    assert matched.reason == scanned.reason

    # What each recording caller set in motion.
    recorded = _recorded(app, case.customer)
    if case.recorded is None:
        assert recorded == {} and (rescanned.matched, stored.matched) == (0, 0)
        assert scanned.match_id == 0
        return
    assert set(recorded) == {SCANNED, RESCANNED, LOGGED}
    assert (rescanned.recorded, stored.recorded) == (1, 1)
    expected = (case.recorded, _pb_hits(scanned.matches), case.block, case.events, case.reports)
    for url, outcome in recorded.items():
        assert outcome == expected, url


def test_what_a_match_sets_in_motion_follows_the_policy_the_server_holds(served: Served) -> None:
    """A policy stored but not yet followed by the server does not split one match between two
    policies: the scan decides, and its recording does what that decision said, until the server's
    next list poll brings the new policy to both."""
    app = served.app
    hashes = app.engine.hash(ROCKET).hashes
    app.store.import_entries("known", [NewEntry(h) for h in hashes if h.algorithm is Algorithm.MD5])
    app.sync_lists()
    app.store.set_policy("known", {"block": False, "notify": False, "report": "immediately"})

    before = _scan(served, "https://shop.example/before.jpg")
    # The server still holds "block, notify, no report": it blocked, so the customer is told of
    # it, and no report follows from a policy the decision did not use.
    assert before.verdict == pb.VERDICT_BLOCK
    app.sync_lists()
    after = _scan(served, "https://shop.example/after.jpg")
    assert after.verdict == pb.VERDICT_ALLOW and {m.action for m in after.matches} == {"record"}

    recorded = _recorded(app, "shop")
    assert recorded["https://shop.example/before.jpg"][1:] == (
        _pb_hits(before.matches),
        "active",
        frozenset({"match"}),
        (),
    )
    assert recorded["https://shop.example/after.jpg"][1:] == (
        _pb_hits(after.matches),
        "none",
        frozenset({"report"}),
        ("cybertipline",),
    )


def test_match_names_an_unknown_customer_as_scan_does(served: Served) -> None:
    hashes = [Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")]
    served.app.store.import_entries("known", [NewEntry(hashes[0])])
    served.app.sync_lists()
    request = [pb.Hash(algorithm=pb.ALGORITHM_MD5, hex=hashes[0].hex)]
    anyone = served.stub.Match(pb.MatchRequest(hashes=request), timeout=10)
    assert anyone.verdict == pb.VERDICT_BLOCK and [m.action for m in anyone.matches] == ["block"]
    assert served.app.customers is not None
    served.app.customers.unknown = "reject"
    refused = served.stub.Match(pb.MatchRequest(hashes=request, customer_id="nobody"), timeout=10)
    assert (refused.verdict, list(refused.matches)) == (pb.VERDICT_ALLOW, [])
    assert refused.reason == "customer_id names no enabled customer"
    # Without a customer_id, Match decides for every list, as it always did.
    assert served.stub.Match(pb.MatchRequest(hashes=request), timeout=10).verdict == pb.VERDICT_BLOCK
    with pytest.raises(grpc.RpcError) as bad:
        served.stub.Match(pb.MatchRequest(hashes=request, customer_id="a\x00b"), timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
