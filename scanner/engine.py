"""The scan itself, independent of transport: hash, match, decide, record.

No database is touched unless something matched; a match is recorded before BLOCK is returned.
A scan computes the engine's algorithms (``DEFAULT_ALGORITHMS``: PDQ, pHash, MD5, SHA-1), MD5
and SHA-1 always, and every algorithm some held list decides on and has entries for
(``Matcher.deciding_algorithms``), so no list entry that decides goes unmatched for want of a
hash. MD5 and SHA-1 of the bytes are matched whatever decoding made of them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import structlog

from index.hashes import Algorithm, Hash
from index.matcher import Matcher, MatchHit, Query
from scanner import metrics
from scanner.customer_policy import DEFAULT as DEFAULT_POLICY
from scanner.customer_policy import CustomerPolicies, CustomerPolicy
from scanner.decision import EXACT, REFUSED, Decision, RecordedVerdict, decide, recorded_verdict
from scanner.decision import Verdict as Verdict  # re-exported: the edge's answer, part of a ScanResult
from scanner.flood import FloodGuard
from scanner.journal import Journal
from scanner.outcomes import Outcome
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig, HashOutcome, hash_content
from scanner.queries import scan_queries
from scanner.recording import MatchRecorder, RecordingFailed, ScanContext
from scanner.stages import stage

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    hashing: HashOutcome
    hits: tuple[MatchHit, ...]
    match_id: int
    elapsed_us: int
    reason: str

    @property
    def queued_for_review(self) -> bool:
        """Recorded, and only queued for an analyst: nothing acts on it before one confirms."""
        return bool(self.match_id) and recorded_verdict(h.action for h in self.hits) is RecordedVerdict.REVIEW


class MatcherHolder:
    """The matcher in use. Readers take ``current`` once per scan; a swap replaces it whole,
    so a scan never sees a half-built index."""

    def __init__(self, matcher: Matcher | None = None) -> None:
        self._matcher = matcher or Matcher()
        self._lock = threading.Lock()

    @property
    def current(self) -> Matcher:
        return self._matcher

    def swap(self, matcher: Matcher) -> None:
        with self._lock:
            self._matcher = matcher


# Content and algorithms in, hashes out: ``hash_content`` in this process by default, or a
# ``scanner.hashpool.HashPool``'s ``hash`` (the engine's ``hashing`` config is then the pool's).
HashFunction = Callable[[bytes, Collection[Algorithm]], HashOutcome]


class ScanEngine:
    def __init__(
        self,
        hashing: HashingConfig,
        matchers: MatcherHolder,
        recorder: MatchRecorder,
        algorithms: Sequence[Algorithm] = DEFAULT_ALGORITHMS,
        journal: Journal | None = None,
        degraded_verdict: Verdict = Verdict.BLOCK,
        hash_function: HashFunction | None = None,
        flood: FloodGuard | None = None,
        customers: CustomerPolicies | None = None,
    ) -> None:
        self.hashing = hashing
        self.hash_function = hash_function
        self.matchers = matchers
        self.recorder = recorder
        self.algorithms = tuple(algorithms)
        # Where a match goes when the recorder fails, and the answer given meanwhile.
        self.journal = journal
        self.degraded_verdict = degraded_verdict
        # Flood protection is the server's (scanner.app); rescans and embedders go without.
        self.flood = flood
        # Per-customer settings (scanner/customer_policy.py); without them every scan is alike.
        self.customers = customers if customers is not None else CustomerPolicies()
        # (the matcher's deciding algorithms, what a scan computes with them): recomputed only
        # when the lists change what they decide on.
        self._scan_set: tuple[frozenset[Algorithm], tuple[Algorithm, ...]] | None = None

    def scan_algorithms(self) -> tuple[Algorithm, ...]:
        """What a scan computes: this engine's algorithms, MD5 and SHA-1, and every algorithm
        a held list decides on and has entries for."""
        deciding = self.matchers.current.deciding_algorithms()
        cached = self._scan_set
        if cached is not None and cached[0] is deciding:
            return cached[1]
        wanted = {*self.algorithms, *EXACT, *deciding}
        chosen = tuple(a for a in Algorithm if a in wanted)
        self._scan_set = (deciding, chosen)
        return chosen

    def hash(self, content: bytes, algorithms: Collection[Algorithm] = ()) -> HashOutcome:
        """``content``'s hashes: ``algorithms``, or what a scan computes (``scan_algorithms``)."""
        chosen = algorithms or self.scan_algorithms()
        if self.hash_function is not None:
            return self.hash_function(content, chosen)
        return hash_content(content, chosen, self.hashing)

    def match(self, hashes: Sequence[Hash], customer_id: str = "") -> Decision:
        """Hashes the caller computed, decided as a scan of content with those hashes would be
        (the ``Match`` RPC): every list, negative ones and review bands included, the customer's
        settings (none named: every list, the lists' own thresholds), held entries. Only the
        forms of the content a scan would add (rotations, the de-bordered copy) are not asked;
        nothing is recorded."""
        customer = self.customers.policy(customer_id) if customer_id else DEFAULT_POLICY
        matcher = self.matchers.current
        # A PDQ hash of a near-flat image matches unrelated near-flat images: not evidence.
        found = matcher.search([Query(h) for h in hashes if h.trustworthy])
        return decide(found, matcher.configs(), customer, self.flood)

    def decide(
        self, outcome: HashOutcome, content: bytes, customer: CustomerPolicy = DEFAULT_POLICY
    ) -> Decision:
        """Search every form of the content (``scanner.queries``) and decide (``scanner.decision``:
        the customer's settings, flood protection, negative lists, the lists' policies).
        Whatever hashes the content got are searched: content that did not decode still has its
        MD5 and SHA-1."""
        if not outcome.hashes:
            return Decision()
        matcher = self.matchers.current
        found = matcher.search(scan_queries(outcome))
        if not found:
            return Decision()
        key = _content_key(outcome, content) if self.flood is not None else None
        decision = decide(found, matcher.configs(), customer, self.flood, key)
        if decision.suppressed:
            metrics.SUPPRESSED.inc(len(decision.suppressed))
            log.info(
                "hits suppressed by a negative list",
                negative=[(h.list_name, h.entry_id) for h in decision.negative],
                suppressed=[(h.list_name, h.entry_id, str(h.algorithm)) for h in decision.suppressed],
            )
        return decision

    def scan(self, content: bytes, context: ScanContext) -> ScanResult:
        started = time.perf_counter()
        policy = self.customers.policy(context.customer_id)
        if policy.refused:
            refused = HashOutcome(Outcome.UNKNOWN_CUSTOMER, reason=REFUSED)
            return ScanResult(Verdict.ALLOW, refused, (), 0, 0, refused.reason)
        with stage("scan.hash"):  # decode included
            outcome = self.hash(content)
        with stage("scan.match"):
            decision = self.decide(outcome, content, policy)
        hits = decision.kept
        verdict, match_id = Verdict.ALLOW, 0
        reason = "; ".join(filter(None, [outcome.reason, decision.reason()]))
        if hits:
            verdict = decision.verdict
            try:
                with stage("scan.record"):
                    match_id = self.recorder.record_match(context, outcome.hashes, decision, content)
            except RecordingFailed as exc:
                spooled = self._spool(context, outcome, decision, content, exc)
                if spooled:
                    reason = spooled
                    degraded = Verdict(policy.degraded_verdict or self.degraded_verdict.value)
                    verdict = degraded if decision.block else Verdict.ALLOW
                elif decision.block:
                    # Still BLOCK: serving known abuse material is the worse failure. The full
                    # match goes to the log so it can be recovered by hand.
                    reason = "match could not be recorded"
                    log.error(
                        "match not recorded",
                        error=str(exc),
                        request_id=context.request_id,
                        customer_id=context.customer_id,
                        url=context.url,
                        hashes={str(h.algorithm): h.hex for h in outcome.hashes},
                        hits=[(h.list_name, h.entry_id, str(h.algorithm), h.distance) for h in hits],
                    )
                else:
                    reason = "match could not be recorded (not blocked)"
                    log.error(
                        "unblocked match not recorded",
                        error=str(exc),
                        request_id=context.request_id,
                        customer_id=context.customer_id,
                        url=context.url,
                        hits=[
                            (h.list_name, h.entry_id, str(h.algorithm), h.distance, h.action) for h in hits
                        ],
                    )
        elapsed_us = int((time.perf_counter() - started) * 1e6)
        return ScanResult(verdict, outcome, hits, match_id, elapsed_us, reason)

    def _spool(
        self,
        context: ScanContext,
        outcome: HashOutcome,
        decision: Decision,
        content: bytes,
        error: RecordingFailed,
    ) -> str:
        """Write the match to the journal (fsync'd) for replay; return the reason to answer
        with, or "" when there is no journal or it could not be written either."""
        if self.journal is None:
            return ""
        try:
            journal_id = self.journal.spool(context, outcome.hashes, decision, content)
        except OSError as exc:
            log.error("match could not be spooled either", error=str(exc), request_id=context.request_id)
            return ""
        log.warning(
            "database unavailable: match spooled",
            error=str(error)[:300],
            journal_id=journal_id,
            request_id=context.request_id,
            verdict=self.degraded_verdict.value,
        )
        return f"match spooled to the local journal ({journal_id}): the database is unavailable"


def _content_key(outcome: HashOutcome, content: bytes) -> str:
    """Tells distinct contents apart for flood protection: the MD5 when it was computed."""
    md5 = outcome.get(Algorithm.MD5)
    return md5.hex if md5 is not None else hashlib.sha1(content, usedforsecurity=False).hexdigest()
