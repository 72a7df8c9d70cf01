"""Per-customer settings on the scan path: who may be scanned, which lists apply, tightened
thresholds, and the verdict while the database is away.

The scan path asks ``CustomerPolicies.policy(customer_id)`` once per scan and filters the
matcher's hits with the answer; nothing here touches the database. ``watch`` keeps the cache
current from a ``PolicySource`` (``reporting.customers.store.CustomerStore``) by polling one counter:
a change made through the API reaches a running server within one poll interval.

A customer_id that names no enabled customer gets the configured default: ``scan`` (every list,
the lists' thresholds, the server's degraded verdict) or ``reject`` (not scanned at all).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import structlog

from index.hashes import Algorithm
from index.matcher import MatchHit

log = structlog.get_logger(__name__)

UnknownCustomer = Literal["scan", "reject"]


@dataclass(frozen=True)
class CustomerPolicy:
    customer_id: str
    # Names of the lists that apply; None: every list.
    lists: frozenset[str] | None = None
    # Largest distance accepted per algorithm; only ever tighter than the list's own.
    thresholds: Mapping[Algorithm, int] = field(default_factory=dict)
    # "block" | "allow"; None: the server's ``degraded_verdict``.
    degraded_verdict: str | None = None
    # A scan for this customer_id is not done at all (unknown customer, ``reject`` mode).
    refused: bool = False

    def filter(self, hits: Iterable[MatchHit], every_customer: Collection[int] = ()) -> tuple[MatchHit, ...]:
        """The hits this customer's settings keep: those on lists it chose (lists in
        ``every_customer``, the negative lists, apply whatever it chose), each judged against
        min(list threshold, customer threshold). A hit the customer's tighter threshold no
        longer covers is not dropped: it falls into the review band (``MatchHit.in_review_band``),
        recorded and queued for an analyst, not blocked; a list's verdict on what it holds is
        not the customer's to discard. A kept hit carries the threshold it was judged by."""
        kept = []
        for hit in hits:
            if (
                self.lists is not None
                and hit.list_name not in self.lists
                and hit.list_id not in every_customer
            ):
                continue
            limit = min(self.thresholds.get(hit.algorithm, hit.threshold), hit.threshold)
            kept.append(hit if limit == hit.threshold else replace(hit, threshold=limit))
        return tuple(kept)


DEFAULT = CustomerPolicy("")


@dataclass(frozen=True)
class PolicyChanges:
    version: int
    # Enabled customers whose policy is new or changed.
    upserts: tuple[CustomerPolicy, ...]
    # Customers deleted or disabled since the version asked about.
    removed: tuple[str, ...]


class PolicySource(Protocol):
    def policy_version(self) -> int:
        """The customers' change counter (a cheap read)."""
        ...

    def policy_changes(self, since: int) -> PolicyChanges:
        """What changed after version ``since`` (0: everything)."""
        ...


class CustomerPolicies:
    """The enabled customers' policies, in memory. Reads never block on a refresh: a refresh
    builds a new mapping and swaps it in whole."""

    def __init__(self, unknown: UnknownCustomer = "scan") -> None:
        self.unknown: UnknownCustomer = unknown
        self._policies: dict[str, CustomerPolicy] = {}
        self.version = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._policies)

    def policy(self, customer_id: str) -> CustomerPolicy:
        found = self._policies.get(customer_id)
        if found is not None:
            return found
        if self.unknown == "reject":
            return CustomerPolicy(customer_id, refused=True)
        return DEFAULT

    def apply(self, changes: PolicyChanges) -> None:
        with self._lock:
            if changes.version <= self.version:
                return
            policies = dict(self._policies)
            for customer_id in changes.removed:
                policies.pop(customer_id, None)
            for policy in changes.upserts:
                policies[policy.customer_id] = policy
            self._policies = policies
            self.version = changes.version

    def refresh(self, source: PolicySource) -> bool:
        """Catch up with ``source``; True when something changed."""
        if source.policy_version() <= self.version:
            return False
        self.apply(source.policy_changes(self.version))
        return True

    def watch(self, source: PolicySource, interval: float, stop: threading.Event) -> None:
        """Refresh every ``interval`` seconds until ``stop``; keep the cache when the source fails."""
        while not stop.wait(interval):
            try:
                if self.refresh(source):
                    log.info("customer settings updated", version=self.version, customers=len(self))
            except Exception:  # the database may be away: scan with what we have
                log.exception("could not follow customer changes")
