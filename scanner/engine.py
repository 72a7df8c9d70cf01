"""The scan itself, independent of transport: hash, match, record, decide.

No database is touched unless something matched; a match is recorded before BLOCK is returned.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import structlog

from index.hashes import Algorithm, Hash
from index.matcher import Matcher, MatchHit
from scanner.customer_policy import CustomerPolicies
from scanner.journal import Journal
from scanner.outcomes import Outcome
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig, HashOutcome, hash_content
from scanner.recording import MatchRecorder, RecordingFailed, ScanContext

log = structlog.get_logger(__name__)


class Verdict(enum.Enum):
    ALLOW = "allow"
    BLOCK = "block"


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    hashing: HashOutcome
    hits: tuple[MatchHit, ...]
    match_id: int
    elapsed_us: int
    reason: str


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


class ScanEngine:
    def __init__(
        self,
        hashing: HashingConfig,
        matchers: MatcherHolder,
        recorder: MatchRecorder,
        algorithms: Sequence[Algorithm] = DEFAULT_ALGORITHMS,
        journal: Journal | None = None,
        degraded_verdict: Verdict = Verdict.BLOCK,
        customers: CustomerPolicies | None = None,
    ) -> None:
        self.hashing = hashing
        self.matchers = matchers
        self.recorder = recorder
        self.algorithms = tuple(algorithms)
        # Where a match goes when the recorder fails, and the answer given meanwhile.
        self.journal = journal
        self.degraded_verdict = degraded_verdict
        # Per-customer settings (scanner/customer_policy.py); without them every scan is alike.
        self.customers = customers if customers is not None else CustomerPolicies()

    def hash(self, content: bytes, algorithms: Collection[Algorithm] = ()) -> HashOutcome:
        return hash_content(content, algorithms or self.algorithms, self.hashing)

    def match(self, hashes: Sequence[Hash]) -> list[MatchHit]:
        # A PDQ hash of a near-flat image matches unrelated near-flat images: not evidence.
        return self.matchers.current.match([h for h in hashes if h.trustworthy])

    def scan(self, content: bytes, context: ScanContext) -> ScanResult:
        started = time.perf_counter()
        policy = self.customers.policy(context.customer_id)
        if policy.refused:
            refused = HashOutcome(Outcome.UNKNOWN_CUSTOMER, reason="customer_id names no enabled customer")
            return ScanResult(Verdict.ALLOW, refused, (), 0, 0, refused.reason)
        outcome = self.hash(content)
        hits = policy.filter(self.match(outcome.hashes)) if outcome.outcome.hashed else ()
        verdict, match_id, reason = Verdict.ALLOW, 0, outcome.reason
        if hits:
            verdict = Verdict.BLOCK
            try:
                match_id = self.recorder.record_match(context, outcome.hashes, hits, content)
            except RecordingFailed as exc:
                reason = self._spool(context, outcome, hits, content, exc)
                if reason:
                    verdict = Verdict(policy.degraded_verdict or self.degraded_verdict.value)
                else:
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
        elapsed_us = int((time.perf_counter() - started) * 1e6)
        return ScanResult(verdict, outcome, hits, match_id, elapsed_us, reason)

    def _spool(
        self,
        context: ScanContext,
        outcome: HashOutcome,
        hits: tuple[MatchHit, ...],
        content: bytes,
        error: RecordingFailed,
    ) -> str:
        """Write the match to the journal (fsync'd) for replay; return the reason to answer
        with, or "" when there is no journal or it could not be written either."""
        if self.journal is None:
            return ""
        try:
            journal_id = self.journal.spool(context, outcome.hashes, hits, content)
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
