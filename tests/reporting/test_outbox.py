"""Claiming outbox rows with several workers at once, leases, retries and dead letters."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from reporting import models
from reporting.matches.actions import OPERATORS, new_event
from reporting.outbox import Outbox, backoff
from reporting.store import Store


def _queue(store: Store, count: int, customer: str = "c1") -> list[str]:
    sessions = Outbox(store.engine).sessions
    event_ids = []
    with sessions.begin() as session:
        destination = models.Destination(customer_id=customer, kind="webhook", config={})
        session.add(destination)
        session.flush()
        for i in range(count):
            event = new_event(session, "match", customer, i + 1, {"n": i})
            session.flush()
            session.add(
                models.Delivery(
                    event_id=event.id, target=f"destination:{destination.id}", destination_id=destination.id
                )
            )
            event_ids.append(event.id)
    return event_ids


def test_concurrent_workers_claim_each_delivery_exactly_once(store: Store) -> None:
    event_ids = _queue(store, 120)
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work(worker_id: str) -> None:
        outbox = Outbox(store.engine)
        start.wait()
        while True:
            batch = outbox.claim(worker_id, models.utcnow(), timedelta(minutes=5), limit=7)
            if not batch:
                return
            for claim in batch:
                with lock:
                    claimed.setdefault(claim.event_id, []).append(worker_id)
                # Delivering takes time; it is what lets the other workers' claims interleave.
                time.sleep(0.005)
                assert outbox.delivered(claim, worker_id, models.utcnow())

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(event_ids)
    assert all(len(workers) == 1 for workers in claimed.values())
    assert len({w for workers in claimed.values() for w in workers}) > 1
    with Outbox(store.engine).sessions() as session:
        states = dict(
            session.execute(select(models.Delivery.state, func.count()).group_by(models.Delivery.state)).all()
        )
    assert states == {"delivered": 120}


def test_a_dead_workers_lease_runs_out_and_its_late_answer_is_ignored(store: Store) -> None:
    _queue(store, 1)
    outbox = Outbox(store.engine)
    start = models.utcnow()
    [first] = outbox.claim("killed", start, timedelta(seconds=60))
    assert outbox.claim("other", start + timedelta(seconds=30), timedelta(seconds=60)) == []
    [second] = outbox.claim("other", start + timedelta(seconds=61), timedelta(seconds=60))
    assert (second.event_id, second.attempts) == (first.event_id, 2)
    assert not outbox.delivered(first, "killed", start + timedelta(seconds=62))
    assert outbox.delivered(second, "other", start + timedelta(seconds=62))


def test_a_retried_delivery_waits_for_its_time(store: Store) -> None:
    _queue(store, 1)
    outbox = Outbox(store.engine)
    now = models.utcnow()
    [claim] = outbox.claim("w", now, timedelta(seconds=60))
    assert outbox.retry(claim, "w", now + timedelta(seconds=10), "503 from receiver")
    assert outbox.claim("w", now + timedelta(seconds=9), timedelta(seconds=60)) == []
    [again] = outbox.claim("w", now + timedelta(seconds=10), timedelta(seconds=60))
    assert again.attempts == 2


def test_a_dead_letter_alerts_the_operators_once(store: Store) -> None:
    _queue(store, 1)
    outbox = Outbox(store.engine)
    with outbox.sessions.begin() as session:
        session.add(models.Destination(customer_id=OPERATORS, kind="email", config={"to": "ops@example.org"}))
    [claim] = outbox.claim("w", models.utcnow(), timedelta(seconds=60))
    assert outbox.dead(claim, "w", "400 Bad Request")
    with outbox.sessions() as session:
        [alert] = session.scalars(select(models.Event).where(models.Event.kind == "dead_letter")).all()
        assert alert.customer_id == OPERATORS
        assert alert.payload["event_id"] == claim.event_id
        assert alert.payload["error"] == "400 Bad Request"
        [alert_delivery] = session.scalars(
            select(models.Delivery).where(models.Delivery.event_id == alert.id)
        ).all()
        assert alert_delivery.state == "pending"
    # The alert's own delivery dying does not raise another alert.
    [alert_claim] = outbox.claim("w", models.utcnow(), timedelta(seconds=60))
    assert outbox.dead(alert_claim, "w", "smtp down")
    with outbox.sessions() as session:
        assert session.scalar(select(func.count()).where(models.Event.kind == "dead_letter")) == 1


def test_backoff_grows_with_jitter_and_respects_retry_after() -> None:
    rng = random.Random(3)
    delays = [backoff(n, 2.0, 600.0, None, rng) for n in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        full = min(600.0, 2.0 * 2 ** (attempt - 1))
        assert full / 2 <= delay <= full
    assert delays[-1] <= 600.0
    assert backoff(1, 2.0, 600.0, 120.0, rng) == 120.0
