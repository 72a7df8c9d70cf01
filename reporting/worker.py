"""The outbox worker: claims due deliveries, performs them, settles each one.

At least once: a delivery is marked delivered only after the destination accepted it, so a
worker killed in between sends it again (with the same event id) after its lease runs out.
Failures are retried with exponential backoff and jitter; a delivery that fails for good, or too
often, is dead-lettered and the operators are told. Partner reports resume from their recorded
step, so they are filed once however often the worker dies.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from prometheus_client import Counter
from sqlalchemy import Engine, or_, select, update

from reporting import models
from reporting.destinations import build_destination
from reporting.events import DeliveryResult, Event
from reporting.keys import LocalKey, LocalKeyError
from reporting.matches.blocks import Blocks
from reporting.matches.evidence import EvidenceBox
from reporting.matches.evidence_store import EvidenceStore
from reporting.outbox import Claimed, Outbox, backoff, count_notifications
from reporting.partners.reports import ReportFiler
from reporting.sealed import SealedSecrets
from reporting.settings import ReportingSettings
from scanner.analytics.ports import NOTIFICATIONS_SENT

log = structlog.get_logger(__name__)

HOUSEKEEPING_SECONDS = 3600.0

# Served on the scanner's /metrics (scanner/metrics.py) when the worker runs inside ``serve``.
DELIVERIES = Counter(
    "hashwatch_outbox_deliveries",
    "Delivery attempts settled, by target kind (destination, block, report:<partner>) and outcome.",
    ["target", "outcome"],
)


def _target_kind(target: str) -> str:
    # "destination:17" would give one series per destination; the partner name is bounded.
    return target if target.startswith("report:") else target.split(":", 1)[0]


class Worker:
    def __init__(
        self,
        engine: Engine,
        settings: ReportingSettings,
        evidence: EvidenceBox | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = models.utcnow,
        rng: random.Random | None = None,
        secrets: LocalKey | None = None,
    ) -> None:
        """``secrets``: the local key destinations' secrets are sealed with (default: the one
        ``open_store`` unlocked the database with)."""
        self.engine = engine
        self._sealed = SealedSecrets(engine, secrets)
        self.settings = settings
        self.outbox = Outbox(engine)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.rng = rng or random.Random()
        self.reports = ReportFiler(engine, settings, evidence)
        self._lease = timedelta(seconds=settings.worker_lease_seconds)

    def run_once(self, limit: int = 50) -> int:
        """Work through what is due now; return how many deliveries were attempted."""
        claimed = self.outbox.claim(self.worker_id, self.clock(), self._lease, limit)
        for claim in claimed:
            self.process(claim)
        return len(claimed) + self.run_digests()

    def run_digests(self) -> int:
        """Send each digest destination whose period is over one message with what it collected.

        A destination is taken by moving its ``last_digest_at`` forward with a conditional
        UPDATE, so two workers never send the same digest. The collected rows are marked
        delivered only after the SMTP server accepted the message; a failure moves the next try
        a few minutes on and keeps every row."""
        now = self.clock()
        period = timedelta(seconds=self.settings.digest_period_seconds)
        sent = 0
        with self.outbox.sessions() as session:
            due = list(
                session.scalars(
                    select(models.Destination.id).where(
                        models.Destination.mode == "digest",
                        models.Destination.enabled.is_(True),
                        or_(
                            models.Destination.last_digest_at.is_(None),
                            models.Destination.last_digest_at <= now - period,
                        ),
                    )
                )
            )
        for destination_id in due:
            sent += self._send_digest(destination_id, now, period)
        return sent

    def _send_digest(self, destination_id: int, now: datetime, period: timedelta) -> int:
        with self.outbox.sessions.begin() as session:
            destination = session.get(models.Destination, destination_id)
            if destination is None:
                return 0
            started = destination.last_digest_at or destination.created_at
            taken = session.execute(
                update(models.Destination)
                .where(
                    models.Destination.id == destination_id,
                    or_(
                        models.Destination.last_digest_at.is_(None),
                        models.Destination.last_digest_at <= now - period,
                    ),
                )
                .values(last_digest_at=now)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return 0
            rows = session.execute(
                select(models.Delivery.id, models.Event)
                .join(models.Event, models.Event.id == models.Delivery.event_id)
                .where(models.Delivery.destination_id == destination_id, models.Delivery.state == "digest")
                .order_by(models.Delivery.id)
            ).all()
            kind, customer_id = destination.kind, destination.customer_id
            config = self._sealed.open_config(destination_id, destination.config)
        if not rows:
            return 0
        events = [_event(row) for _, row in rows]
        sender = build_destination(kind, config, self.settings)
        deliver_digest = getattr(sender, "deliver_digest", None)
        if deliver_digest is None:
            result = DeliveryResult.failure(f"{kind} destinations cannot send digests")
        else:
            result = deliver_digest(customer_id, events, (started, now))
        ids = [delivery_id for delivery_id, _ in rows]
        with self.outbox.sessions.begin() as session:
            if result.ok:
                sent = session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id.in_(ids), models.Delivery.state == "digest")
                    .values(state="delivered", delivered_at=now, attempts=models.Delivery.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                count_notifications(
                    session,
                    f"destination:{destination_id}",
                    customer_id,
                    now,
                    NOTIFICATIONS_SENT,
                    int(sent.rowcount),  # type: ignore[attr-defined]
                )
            else:
                retry_at = now - period + timedelta(seconds=self.settings.worker_backoff_max_seconds / 12)
                session.execute(
                    update(models.Destination)
                    .where(models.Destination.id == destination_id)
                    .values(last_digest_at=retry_at)
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    update(models.Delivery)
                    .where(models.Delivery.id.in_(ids), models.Delivery.state == "digest")
                    .values(attempts=models.Delivery.attempts + 1, last_error=result.detail[:2000])
                    .execution_options(synchronize_session=False)
                )
        log.info("digest", destination_id=destination_id, events=len(ids), ok=result.ok, detail=result.detail)
        return len(ids)

    def drain(self, max_rounds: int = 1000) -> int:
        """Run until nothing is due (``hashwatch worker --once``)."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def housekeeping(self) -> None:
        """Purge evidence past its preservation period and resolved blocks past 30 days."""
        now = self.clock()
        purged = EvidenceStore(self.engine, None).purge_expired(now)
        dropped = Blocks(self.engine).purge_resolved(now)
        if purged or dropped:
            log.info("housekeeping", evidence_purged=purged, resolved_blocks_dropped=dropped)

    def run(self, stop: threading.Event) -> None:
        log.info("worker started", worker_id=self.worker_id)
        next_housekeeping = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_housekeeping:
                    self.housekeeping()
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
                busy = self.run_once()
            except Exception:  # the database may be away; keep trying, loudly
                log.exception("worker round failed", worker_id=self.worker_id)
                busy = 0
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)
        log.info("worker stopped", worker_id=self.worker_id)

    def process(self, claim: Claimed) -> DeliveryResult:
        try:
            result = self._perform(claim)
        except Exception as exc:  # a bug in a destination must not kill the worker
            log.exception("delivery raised", delivery_id=claim.delivery_id, target=claim.target)
            result = DeliveryResult.retry(f"internal error: {type(exc).__name__}: {exc}")
        self._settle(claim, result)
        return result

    def _perform(self, claim: Claimed) -> DeliveryResult:
        if claim.target.startswith("destination:"):
            return self._deliver_to_destination(claim)
        if claim.target.startswith("report:"):
            partner = claim.target.removeprefix("report:")
            return self.reports.file(to_event(claim), partner, f"worker {self.worker_id}")
        if claim.target == "block":
            return self._apply_block(claim)
        return DeliveryResult.failure(f"unknown delivery target {claim.target!r}")

    def _deliver_to_destination(self, claim: Claimed) -> DeliveryResult:
        with self.outbox.sessions() as session:
            destination = session.get(models.Destination, claim.destination_id)
        if destination is None or not destination.enabled:
            return DeliveryResult.failure("destination was removed or disabled")
        try:
            config = self._sealed.open_config(destination.id, destination.config)
        except LocalKeyError as exc:
            # Retried like any failure (another worker may hold the right key); the cause is
            # named so an operator can fix it before the attempts run out.
            log.error("destination secret does not open", delivery_id=claim.delivery_id, error=str(exc))
            return DeliveryResult.retry(str(exc))
        sender = build_destination(destination.kind, config, self.settings)
        return sender.deliver(to_event(claim))

    def _apply_block(self, claim: Claimed) -> DeliveryResult:
        from reporting.matches.blockhook import apply_block

        result = apply_block(self.settings, claim.payload, to_event(claim))
        if result.ok:
            with self.outbox.sessions.begin() as session:
                block = session.scalar(
                    select(models.Block).where(
                        models.Block.customer_id == claim.customer_id,
                        models.Block.url == str(claim.payload.get("url", "")),
                        models.Block.state == "pending",
                    )
                )
                if block is not None:
                    block.state = "active"
        return result

    def _settle(self, claim: Claimed, result: DeliveryResult) -> None:
        now = self.clock()
        fields = {"delivery_id": claim.delivery_id, "target": claim.target, "event_id": claim.event_id}
        kind = _target_kind(claim.target)
        if result.ok:
            DELIVERIES.labels(kind, "delivered").inc()
            self.outbox.delivered(claim, self.worker_id, now)
            log.info("delivered", attempts=claim.attempts, detail=result.detail, **fields)
            return
        if result.retryable and claim.attempts < self.settings.worker_max_attempts:
            delay = backoff(
                claim.attempts,
                self.settings.worker_backoff_base_seconds,
                self.settings.worker_backoff_max_seconds,
                result.retry_after,
                self.rng,
            )
            DELIVERIES.labels(kind, "retry").inc()
            self.outbox.retry(claim, self.worker_id, now + timedelta(seconds=delay), result.detail)
            log.warning(
                "delivery failed; will retry",
                attempts=claim.attempts,
                retry_in=round(delay, 1),
                detail=result.detail,
                **fields,
            )
            return
        DELIVERIES.labels(kind, "dead").inc()
        self.outbox.dead(claim, self.worker_id, result.detail)
        if claim.target == "block":
            self._block_failed(claim, result.detail)
        log.error("delivery dead-lettered", attempts=claim.attempts, detail=result.detail, **fields)

    def _block_failed(self, claim: Claimed, detail: str) -> None:
        """A block that could not be applied is itself something the customer hears about."""
        from reporting.matches.actions import fan_out, new_event

        with self.outbox.sessions.begin() as session:
            payload = {"url": claim.payload.get("url", ""), "match_id": claim.case_id, "error": detail[:500]}
            event = new_event(session, "block_failed", claim.customer_id, claim.case_id, payload)
            session.flush()
            fan_out(session, event)


def _event(row: models.Event) -> Event:
    return Event(
        id=row.id,
        kind=row.kind,
        customer_id=row.customer_id,
        occurred_at=row.created_at,
        case_id=row.case_id,
        payload=dict(row.payload),
    )


def to_event(claim: Claimed) -> Event:
    return Event(
        id=claim.event_id,
        kind=claim.event_kind,
        customer_id=claim.customer_id,
        occurred_at=claim.event_created_at,
        case_id=claim.case_id,
        payload=claim.payload,
    )
