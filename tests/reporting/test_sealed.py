"""Secrets at rest, against real SQLite and PostgreSQL: TOTP seeds and destinations' secrets are
stored sealed, bound to their row, still work for logins and deliveries to real receivers, and
a database from before sealing is sealed when it is opened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import text

from reporting.access.accounts import Accounts
from reporting.destinations.admin import DestinationAdmin
from reporting.keys import LocalKeyError, is_sealed
from reporting.sealed import SealedSecrets
from reporting.settings import ReportingSettings
from reporting.store import Store
from reporting.testing.pagerduty_receiver import PagerDutyReceiver
from reporting.testing.webhook_receiver import WebhookReceiver
from reporting.worker import Worker
from scanner.app import open_store
from scanner.settings import load_settings
from tests.conftest import TEST_SECRETS_KEY

PASSWORD = "correct horse battery"
SECRET = "whsec-0123456789abcdef-sealed"
ROUTING_KEY = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y42"
SETTINGS = ReportingSettings(http_timeout_seconds=10)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as server:
        yield server


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyReceiver]:
    with PagerDutyReceiver() as server:
        yield server


def _dump(store: Store) -> str:
    """Every value of the tables that hold secrets, as text."""
    with store.engine.connect() as conn:
        rows = [
            *conn.execute(text("SELECT * FROM analysts")),
            *conn.execute(text("SELECT * FROM destinations")),
        ]
    return " ".join(str(value) for row in rows for value in row)


def _deliver_test_event(store: Store, destination_id: int) -> tuple[str, str]:
    admin = DestinationAdmin(store.engine, SETTINGS)
    event_id = admin.queue_test(destination_id)
    Worker(store.engine, SETTINGS).drain()
    [delivery] = [d for d in admin.history(destination_id) if d.event_id == event_id]
    return delivery.state, delivery.last_error


def _add_hooks(store: Store, receiver: WebhookReceiver, pagerduty: PagerDutyReceiver) -> tuple[int, int]:
    admin = DestinationAdmin(store.engine, SETTINGS)
    hook = admin.add("shop", "webhook", {"url": receiver.url, "secret": SECRET, "allow_private": True})
    pager = admin.add(
        "shop",
        "pagerduty",
        {"routing_key": ROUTING_KEY, "events_url": pagerduty.events_url, "allow_private": True},
    )
    return hook, pager


def test_totp_and_destination_secrets_are_stored_sealed_and_still_work(
    store: Store, receiver: WebhookReceiver, pagerduty: PagerDutyReceiver
) -> None:
    enrolment = Accounts(store.engine).create("alice", PASSWORD, "analyst", actor="test")
    hook, pager = _add_hooks(store, receiver, pagerduty)

    stored = _dump(store)
    for secret in (enrolment.totp_secret, SECRET, ROUTING_KEY):
        assert secret not in stored and secret.lower() not in stored
    assert stored.count("sealed:v1:") == 3

    login = Accounts(store.engine).authenticate("alice", PASSWORD, pyotp.TOTP(enrolment.totp_secret).now())
    assert login.actor == "analyst:alice"
    assert _deliver_test_event(store, hook) == ("delivered", "")
    assert receiver.valid_signatures()  # signed with the secret as given
    assert _deliver_test_event(store, pager) == ("delivered", "")
    assert [event["routing_key"] for event in pagerduty.accepted] == [ROUTING_KEY]
    # Listings show no more than before: the secrets' last four characters.
    shown = {v.id: v.config for v in DestinationAdmin(store.engine, SETTINGS).all()}
    assert shown[hook]["secret"] == "****" + SECRET[-4:]
    assert shown[pager]["routing_key"] == "****" + ROUTING_KEY[-4:]


def test_a_sealed_secret_moved_to_another_row_does_not_open_and_nothing_is_lost(
    store: Store, receiver: WebhookReceiver, pagerduty: PagerDutyReceiver
) -> None:
    hook, _ = _add_hooks(store, receiver, pagerduty)
    other = DestinationAdmin(store.engine, SETTINGS).add(
        "shop", "webhook", {"url": receiver.url, "secret": "another-secret-of-16+", "allow_private": True}
    )
    with store.engine.begin() as conn:
        moved = conn.execute(text("SELECT config FROM destinations WHERE id = :i"), {"i": hook}).scalar_one()
        conn.execute(
            text("UPDATE destinations SET config = :c WHERE id = :i"),
            {"c": moved if isinstance(moved, str) else json.dumps(moved), "i": other},
        )
    state, error = _deliver_test_event(store, other)
    # Kept for another attempt, with the cause named; never sent with a secret it should not have.
    assert state == "pending" and "HASHWATCH_SECRETS_KEY" in error and f"destination {other}" in error
    assert receiver.requests == []


def test_a_database_from_before_sealing_is_sealed_when_opened(
    database_url: str, tmp_path: Path, receiver: WebhookReceiver, pagerduty: PagerDutyReceiver
) -> None:
    settings = load_settings(data_dir=tmp_path / "var", database_url=database_url)
    store = open_store(settings)
    enrolment = Accounts(store.engine).create("alice", PASSWORD, "analyst", actor="test")
    hook, pager = _add_hooks(store, receiver, pagerduty)
    # What the previous version stored: the secrets in plain text.
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE analysts SET totp_secret = :s"), {"s": enrolment.totp_secret})
        for destination_id, field, value in ((hook, "secret", SECRET), (pager, "routing_key", ROUTING_KEY)):
            [config] = conn.execute(
                text("SELECT config FROM destinations WHERE id = :i"), {"i": destination_id}
            ).scalars()
            unsealed = {**(json.loads(config) if isinstance(config, str) else config), field: value}
            conn.execute(
                text("UPDATE destinations SET config = :c WHERE id = :i"),
                {"c": json.dumps(unsealed), "i": destination_id},
            )
    plain = _dump(store)
    assert SECRET in plain and ROUTING_KEY in plain and enrolment.totp_secret in plain
    store.engine.dispose()

    reopened = open_store(settings)
    sealed = _dump(reopened)
    reopened.engine.dispose()
    for secret in (enrolment.totp_secret, SECRET, ROUTING_KEY):
        assert secret not in sealed
    assert sealed.count("sealed:v1:") == 3

    again = open_store(settings)
    try:
        assert _dump(again) == sealed  # opening again changes nothing
        code = pyotp.TOTP(enrolment.totp_secret).now()
        assert Accounts(again.engine).authenticate("alice", PASSWORD, code).actor == "analyst:alice"
        assert _deliver_test_event(again, hook) == ("delivered", "")
        assert receiver.valid_signatures()
        assert _deliver_test_event(again, pager) == ("delivered", "")
        assert [event["routing_key"] for event in pagerduty.accepted] == [ROUTING_KEY]
    finally:
        again.engine.dispose()


def test_a_store_without_its_key_refuses_to_seal(store: Store) -> None:
    from reporting.db import make_engine

    unlocked_elsewhere = make_engine(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        with pytest.raises(LocalKeyError, match="HASHWATCH_SECRETS_KEY"):
            Accounts(unlocked_elsewhere).create("bob", PASSWORD, "analyst")
        # Given explicitly, the key serves as well as the one open_store remembers.
        sealed = SealedSecrets(unlocked_elsewhere, TEST_SECRETS_KEY).seal_totp(9, "JBSWY3DPEHPK3PXP")
        assert is_sealed(sealed)
        assert SealedSecrets(store.engine).open_totp(9, sealed) == "JBSWY3DPEHPK3PXP"
        assert not Accounts(unlocked_elsewhere).list()  # nothing was written
    finally:
        unlocked_elsewhere.dispose()
