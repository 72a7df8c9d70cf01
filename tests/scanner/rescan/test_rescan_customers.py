"""A rescan for a customer keeps that customer's settings, exactly as the service's scan does."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.hashes import Algorithm
from index.matcher import Matcher
from reporting.matches.rescans import RescanStore
from reporting.store import Store
from scanner.customer_policy import CustomerPolicies, CustomerPolicy, PolicyChanges
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.recording import InMemoryRecorder, ScanContext
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan
from scanner.rescan.sources import directory_source
from tests.scanner.rescan.rescan_images import import_demo_list, make_images

CUSTOMER = "shop-tight"
# Tighter than the lists' PDQ 31 / pHash 10: the farther copies fall into the review band.
TIGHT = {Algorithm.PDQ: 6, Algorithm.PHASH: 2}

# (url, verdict, hits as (entry, algorithm, distance, threshold, action))
Found = set[tuple[str, str, frozenset[tuple[int, str, int, int, str]]]]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_images(tmp_path_factory.mktemp("customers") / "images", per_listed=6, per_unrelated=1)


def _policies(unknown: str = "scan") -> CustomerPolicies:
    policies = CustomerPolicies("reject" if unknown == "reject" else "scan")
    policies.apply(PolicyChanges(1, (CustomerPolicy(CUSTOMER, None, TIGHT),), ()))
    return policies


def test_a_rescan_applies_the_customers_tightened_thresholds_as_the_service_does(
    store: Store, images: Path
) -> None:
    import_demo_list(store)
    inputs = store.matcher_inputs()
    source = directory_source(images, CUSTOMER)
    # The oracle: the service's own scan for that customer, item by item.
    recorder = InMemoryRecorder()
    service = ScanEngine(HashingConfig(), MatcherHolder(Matcher(inputs)), recorder, customers=_policies())
    for item in source.items:
        service.scan(Path(item.location).read_bytes(), ScanContext(customer_id=CUSTOMER, url=item.url))
    expected: Found = set()
    for m in recorder.matches:
        verdict = "block" if any(h.action == "block" for h in m.hits) else "review"
        hits = frozenset((h.entry_id, str(h.algorithm), h.distance, h.threshold, h.action) for h in m.hits)
        expected.add((m.context.url, verdict, hits))
    assert {verdict for _, verdict, _ in expected} == {"block", "review"}, "both sides of the threshold"

    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=1) as local:
        summary = run_rescan(source, local, RescanStore(store), customers=_policies())
    got: Found = {
        (
            m.url,
            m.verdict,
            frozenset((h.entry_id, h.algorithm, h.distance, h.threshold, h.action) for h in m.hits),
        )
        for m in store.matches(limit=10_000)
    }
    assert got == expected
    assert summary.recorded == len(expected)


def test_a_rescan_for_a_refused_customer_records_nothing_and_says_so(store: Store, images: Path) -> None:
    import_demo_list(store)
    inputs = store.matcher_inputs()
    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=1) as local:
        summary = run_rescan(
            directory_source(images, "nobody"),
            local,
            RescanStore(store),
            customers=_policies("reject"),
        )
    # Every listed copy is reported as an error naming the refusal; none is recorded.
    assert summary.errors >= 6 and (summary.matched, summary.recorded) == (0, 0)
    assert store.matches(limit=10) == []
