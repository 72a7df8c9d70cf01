"""The per-customer filter over match hits, the policy cache, and the per-customer degraded
verdict on the scan path (a real journal, a recorder that fails like a database that is away)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from index.hashes import Algorithm, Hash
from index.matcher import ListConfig, Matcher, MatchHit
from scanner.customer_policy import CustomerPolicies, CustomerPolicy, PolicyChanges
from scanner.decision import Decision
from scanner.engine import MatcherHolder, ScanEngine, Verdict
from scanner.journal import Journal
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, hash_content
from scanner.recording import RecordingFailed, ScanContext
from tests.conftest import DEMO_LIST

ALGORITHMS = (Algorithm.PDQ, Algorithm.PHASH)
LISTS = ("csam", "ncii", "own")
QUERY = Hash.from_hex("pdq", "0" * 64)

hit_strategy = st.builds(
    lambda list_name, algorithm, threshold, distance: MatchHit(
        LISTS.index(list_name) + 1, list_name, 1, algorithm, min(distance, threshold), threshold, QUERY
    ),
    st.sampled_from(LISTS),
    st.sampled_from(ALGORITHMS),
    st.integers(0, 40),
    st.integers(0, 40),
)


@given(
    st.lists(hit_strategy, max_size=12),
    st.none() | st.frozensets(st.sampled_from(LISTS)),
    st.dictionaries(st.sampled_from(ALGORITHMS), st.integers(0, 40)),
    st.frozensets(st.sampled_from((1, 2, 3))),
)
def test_filter_keeps_exactly_the_hits_within_the_customers_settings(
    hits: list[MatchHit],
    lists: frozenset[str] | None,
    thresholds: dict[Algorithm, int],
    negative: frozenset[int],
) -> None:
    policy = CustomerPolicy("c", lists, thresholds)
    kept = policy.filter(hits, negative)
    # Oracle: each hit judged on its own, the slow way.
    expected = []
    originals = []
    for hit in hits:
        chosen = lists is None or hit.list_name in lists or hit.list_id in negative
        ceiling = (
            hit.threshold
            if hit.algorithm not in thresholds
            else min(thresholds[hit.algorithm], hit.threshold)
        )
        if chosen:
            expected.append((hit.list_name, hit.algorithm, hit.distance, ceiling))
            originals.append(hit)
    assert [(h.list_name, h.algorithm, h.distance, h.threshold) for h in kept] == expected
    # Never more hits, never a looser threshold; a hit past the customer's threshold is in
    # the review band (queued for an analyst, not blocked), not gone.
    assert len(kept) <= len(hits)
    assert all(h.threshold <= o.threshold for h, o in zip(kept, originals, strict=True))
    assert all(h.in_review_band == (h.distance > h.threshold) for h in kept)


def test_the_cache_follows_upserts_and_removals_and_ignores_old_versions() -> None:
    cache = CustomerPolicies()
    assert cache.policy("a") == CustomerPolicy("")
    cache.apply(PolicyChanges(2, (CustomerPolicy("a", frozenset({"csam"})),), ()))
    assert cache.policy("a").lists == frozenset({"csam"})
    cache.apply(PolicyChanges(1, (), ("a",)))  # older than what is held: ignored
    assert cache.policy("a").lists == frozenset({"csam"})
    cache.apply(PolicyChanges(3, (), ("a",)))
    assert cache.policy("a") == CustomerPolicy("")
    rejecting = CustomerPolicies("reject")
    assert rejecting.policy("nobody").refused
    rejecting.apply(PolicyChanges(1, (CustomerPolicy("a"),), ()))
    assert not rejecting.policy("a").refused


class AwayDatabase:
    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        raise RecordingFailed("connection refused")


def test_degraded_verdict_is_the_customers_own_when_it_has_one(tmp_path: Path) -> None:
    rocket = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
    outcome = hash_content(rocket, (Algorithm.PDQ,), HashingConfig())
    matcher = Matcher()
    matcher.replace_list(ListConfig(1, "csam"), [(1, outcome.hashes[0])])
    policies = CustomerPolicies()
    policies.apply(
        PolicyChanges(
            1,
            (
                CustomerPolicy("open", degraded_verdict="allow"),
                CustomerPolicy("closed", degraded_verdict="block"),
            ),
            (),
        )
    )
    engine = ScanEngine(
        HashingConfig(),
        MatcherHolder(matcher),
        AwayDatabase(),
        (Algorithm.PDQ,),
        journal=Journal(tmp_path / "journal"),
        degraded_verdict=Verdict.BLOCK,
        customers=policies,
    )
    verdicts = {c: engine.scan(rocket, ScanContext(customer_id=c)) for c in ("open", "closed", "default")}
    assert {c: r.verdict for c, r in verdicts.items()} == {
        "open": Verdict.ALLOW,
        "closed": Verdict.BLOCK,
        "default": Verdict.BLOCK,
    }
    # Every one of them was spooled for replay, fail-open or not.
    assert all("spooled" in r.reason for r in verdicts.values())
    assert len(list((tmp_path / "journal").iterdir())) >= 3
    # The server's own fail-open setting is overridden by a customer's fail-closed one.
    engine.degraded_verdict = Verdict.ALLOW
    assert engine.scan(rocket, ScanContext(customer_id="closed")).verdict == Verdict.BLOCK
    assert engine.scan(rocket, ScanContext(customer_id="default")).verdict == Verdict.ALLOW


def test_a_refused_customer_is_not_hashed(tmp_path: Path) -> None:
    engine = ScanEngine(
        HashingConfig(), MatcherHolder(), AwayDatabase(), customers=CustomerPolicies("reject")
    )
    result = engine.scan(b"not even an image", ScanContext(customer_id="nobody"))
    assert (result.verdict, result.hashing.outcome, result.hits) == (
        Verdict.ALLOW,
        Outcome.UNKNOWN_CUSTOMER,
        (),
    )
