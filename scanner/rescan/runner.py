"""The parent's loop: take results in source order, decide for each item's customer, record
matches once, checkpoint, count.

Workers hash and match; only this loop touches storage, so one process owns the database and
the checkpoint position is simply "every item before it is done". Both loops here decide through
the scan's own decision step (``scanner.decision.decide``), which gives the verdict, each hit's
action and what the match sets in motion.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from index.matcher import ListConfig, ListKind, Matcher, Query
from scanner.customer_policy import DEFAULT as EVERY_LIST
from scanner.customer_policy import CustomerPolicies
from scanner.decision import Decision, decide
from scanner.recording import RecordingFailed, ScanContext
from scanner.rescan import checkpoint
from scanner.rescan.ports import HashLogSource, OnceRecorder
from scanner.rescan.progress import Reporter, Silent
from scanner.rescan.sources import Item, Source
from scanner.rescan.summary import Summary
from scanner.rescan.work import ItemResult

log = structlog.get_logger(__name__)

RESCAN = "rescan"
STORED = "stored"


class ResultEngine(Protocol):
    def results(self, items: Sequence[Item]) -> Iterator[ItemResult]: ...

    def configs(self) -> Mapping[int, ListConfig]:
        """The lists the engine matches against, policies included."""
        ...


def run_rescan(
    source: Source,
    engine: ResultEngine,
    recorder: OnceRecorder,
    *,
    engine_name: str = "local",
    checkpoint_path: Path | None = None,
    checkpoint_every: int = 100,
    reporter: Reporter | None = None,
    customers: CustomerPolicies | None = None,
) -> Summary:
    """With ``customers``, each item's customer settings apply to its hits, as they do to a scan
    for that customer (``scanner.customer_policy``)."""
    reporter = reporter or Silent()
    started = time.monotonic()
    summary = Summary(source.description, engine_name, files=len(source.items))
    fingerprint = source.fingerprint
    start = 0
    if checkpoint_path is not None and (state := checkpoint.load(checkpoint_path, fingerprint)):
        summary.restore(state.counts)
        start = summary.resumed_at = state.position
        log.info("rescan resumed", position=start, checkpoint=str(checkpoint_path))
    reporter.start(len(source.items), start)
    done = start
    configs = engine.configs()
    try:
        for result in engine.results(source.items[start:]):
            summary.count(result)
            if result.hits:
                decision = _for_customer(result, customers, configs, summary)
                if decision.kept:
                    _record(result, decision, recorder, summary, fingerprint[:12])
            done += 1
            if checkpoint_path is not None and (done - start) % checkpoint_every == 0:
                checkpoint.save(checkpoint_path, checkpoint.Checkpoint(fingerprint, done, summary.counters()))
            reporter.update(done, summary.matched)
    finally:
        reporter.stop()
    if checkpoint_path is not None:
        checkpoint.clear(checkpoint_path)
    summary.seconds = time.monotonic() - started
    return summary


def _for_customer(
    result: ItemResult,
    customers: CustomerPolicies | None,
    configs: Mapping[int, ListConfig],
    summary: Summary,
) -> Decision:
    """The decision for the item's customer. The worker's hits are what the scan's step kept for
    no customer in particular (negative lists applied, which bind every customer alike); deciding
    them again for the item's customer keeps that customer's lists and tightened thresholds (a
    hit past them is queued for review, not blocked), as a scan for it would, and gives the
    match its actions. Nothing is kept when that customer's scans are refused."""
    customer = customers.policy(result.item.customer_id) if customers is not None else EVERY_LIST
    decision = decide(result.hits, configs, customer)
    if decision.refused:
        summary.error(
            result.item.location,
            f"customer {result.item.customer_id!r} is not an enabled customer "
            "(HASHWATCH_UNKNOWN_CUSTOMER=reject): its match was not recorded",
        )
    return decision


def _record(
    result: ItemResult, decision: Decision, recorder: OnceRecorder, summary: Summary, run: str
) -> None:
    summary.matched += 1
    item = result.item
    context = ScanContext(
        request_id=f"rescan-{run}-{item.index}", customer_id=item.customer_id, url=item.url, source=RESCAN
    )
    try:
        match_id = recorder.record_once(
            context, result.content_sha256, result.hashes, decision, result.content
        )
    except RecordingFailed as exc:
        summary.error(item.location, f"match not recorded: {exc}")
        log.error("rescan match not recorded", error=str(exc), url=item.url, customer_id=item.customer_id)
        return
    if match_id is None:
        summary.already_recorded += 1
    else:
        summary.recorded += 1


def run_stored(
    log_source: HashLogSource,
    recorder: OnceRecorder,
    since: datetime,
    *,
    customer_id: str | None = None,
    reporter: Reporter | None = None,
    customers: CustomerPolicies | None = None,
) -> Summary:
    """Re-match logged hashes against the entries added since ``since``, through the scan's own
    policy step (review bands, any / at least two, negative lists, holds). The content is not
    touched (there is none to touch): the match is recorded without evidence. With
    ``customers``, each logged scan's customer settings apply as in ``run_rescan``. Only the plain
    hashes were logged, so rotated and de-bordered forms are not re-matched, and a list that
    needs two algorithms to agree sees only its new entries: such a hit is queued for review
    rather than blocked."""
    reporter = reporter or Silent()
    started = time.monotonic()
    summary = Summary(f"hash log since {since.isoformat()}", STORED)
    inputs = log_source.entries_added_since(since)
    if any(config.kind is not ListKind.NEGATIVE for config, _ in inputs):
        matcher = Matcher(inputs)
        configs = matcher.configs()
        reporter.start(log_source.hash_log_size(customer_id), 0)
        try:
            for logged in log_source.logged_scans(customer_id):
                summary.files += 1
                summary.scanned += 1
                found = matcher.search([Query(h) for h in logged.hashes if h.trustworthy])
                # A customer whose scans are refused now was logged when it was not: nothing kept.
                customer = customers.policy(logged.customer_id) if customers is not None else EVERY_LIST
                decision = decide(found, configs, customer)
                if decision.kept:
                    summary.matched += 1
                    context = ScanContext(
                        request_id=f"stored-{logged.id}",
                        customer_id=logged.customer_id,
                        url=logged.url,
                        source=STORED,
                    )
                    try:
                        new = recorder.record_once(
                            context, logged.content_sha256, logged.hashes, decision, b""
                        )
                    except RecordingFailed as exc:
                        summary.error(logged.url, f"match not recorded: {exc}")
                        continue
                    if new is None:
                        summary.already_recorded += 1
                    else:
                        summary.recorded += 1
                reporter.update(summary.files, summary.matched)
        finally:
            reporter.stop()
    summary.seconds = time.monotonic() - started
    return summary
