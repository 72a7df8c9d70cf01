"""Verification emails on a real server (port 0, --require-auth) with a real SMTP server, SQLite
and PostgreSQL: limits per partner, per caller and per address that hold across servers and
restarts (they are counted in the database), and a message that carries no text a partner chose."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from scanner.api.hashwatch.v1 import customers_pb2 as cpb
from tests.scanner.rpc.test_customers_service import Metadata, Served, code_of, serve

LIMITS: dict[str, object] = {
    "verify_mails_per_partner": 3,
    "verify_mails_per_caller": 2,
    "verify_mails_per_address": 2,
}
WINDOW = 3600.0


@contextmanager
def server(database_url: str, where: Path) -> Iterator[Served]:
    yield from serve(database_url, where, reporting_overrides=LIMITS)


def limited(call: Callable[[], object]) -> tuple[str, float]:
    """The message and the retry delay of a call refused RESOURCE_EXHAUSTED."""
    with pytest.raises(grpc.RpcError) as refused:
        call()
    error = refused.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    status = rpc_status.from_call(error)
    assert status is not None
    [detail] = status.details
    info = error_details_pb2.RetryInfo()
    assert detail.Unpack(info)
    delay: float = info.retry_delay.ToMilliseconds() / 1000
    return str(error.details()), delay


def set_email(served: Served, token: Metadata, customer_id: str, email: str) -> cpb.Customer:
    request = cpb.SetEmailRequest(customer_id=customer_id, email=email)
    made: cpb.Customer = served.customers.SetEmail(request, metadata=token, timeout=30)
    return made


def create(served: Served, token: Metadata, *customer_ids: str) -> None:
    for customer_id in customer_ids:
        served.customers.CreateCustomer(
            cpb.CreateCustomerRequest(customer_id=customer_id), metadata=token, timeout=10
        )


def no_more_mail(served: Served, count: int) -> None:
    served.sink.wait_for(count)
    time.sleep(0.3)
    assert len(served.sink.messages) == count


def test_a_partner_cannot_mail_without_limit_even_across_servers_and_restarts(
    database_url: str, tmp_path: Path
) -> None:
    with server(database_url, tmp_path / "one") as one:
        first, second = (one.auth("partner", partner="host-a") for _ in range(2))
        create(one, first, *(f"host-a:c{n}" for n in range(4)))
        set_email(one, first, "host-a:c0", "a0@victim.example")
        set_email(one, first, "host-a:c1", "a1@victim.example")
        # One token: two mails an hour.
        message, delay = limited(lambda: set_email(one, first, "host-a:c2", "a2@victim.example"))
        assert "for this caller" in message and WINDOW - 60 < delay <= WINDOW
        # Every token of the partner together: three.
        set_email(one, second, "host-a:c2", "a2@victim.example")
        message, delay = limited(lambda: set_email(one, second, "host-a:c3", "a3@victim.example"))
        assert "for this partner" in message and 0 < delay <= WINDOW
        no_more_mail(one, 3)
        assert (
            one.customers.GetCustomer(
                cpb.GetCustomerRequest(customer_id="host-a:c3"), metadata=second, timeout=10
            ).email_state
            == cpb.EMAIL_STATE_UNVERIFIED
        )

    # Another server on the same database, after the first one stopped: the count held.
    with server(database_url, tmp_path / "two") as two:
        message, _ = limited(lambda: set_email(two, second, "host-a:c3", "a3@victim.example"))
        assert "for this partner" in message
        assert two.sink.messages == []

        # Another partner has its own allowance, and may not spend it all on one address.
        b1, b2 = (two.auth("partner", partner="host-b") for _ in range(2))
        create(two, b1, "host-b:1", "host-b:2", "host-b:3")
        # A mail the SMTP server refused was not sent and does not count.
        two.sink.reject_next(1, 451)
        assert (
            code_of(lambda: set_email(two, b1, "host-b:1", "a0@victim.example"))
            == grpc.StatusCode.UNAVAILABLE
        )
        set_email(two, b1, "host-b:1", "a0@victim.example")
        set_email(two, b2, "host-b:2", "a0@victim.example")
        message, _ = limited(lambda: set_email(two, b2, "host-b:3", "A0@Victim.Example"))
        assert "to this address" in message
        set_email(two, b2, "host-b:3", "other@victim.example")
        no_more_mail(two, 3)

        # Operators have a per-caller limit too (and a shell user counts as one caller).
        admin = two.auth("customers:write")
        create(two, admin, "op-1", "op-2", "op-3")
        set_email(two, admin, "op-1", "o1@operator.example")
        set_email(two, admin, "op-2", "o2@operator.example")
        message, _ = limited(lambda: set_email(two, admin, "op-3", "o3@operator.example"))
        assert "for this caller" in message


def test_the_mail_carries_no_text_the_partner_chose(database_url: str, tmp_path: Path) -> None:
    with server(database_url, tmp_path) as served:
        partner = served.auth("partner", partner="host-a")
        name = "URGENT: your account is suspended. Call +1 555 0100 or visit https://evil.example/login"
        served.customers.CreateCustomer(
            cpb.CreateCustomerRequest(
                customer_id="host-a:claim-prize.evil.example", name=name, sites=["login-bank.example"]
            ),
            metadata=partner,
            timeout=10,
        )
        set_email(served, partner, "host-a:claim-prize.evil.example", "victim@example.org")
        [sent] = served.sink.wait_for(1)
        body = sent.message.get_content()
        for chosen in ("URGENT", "555", "evil", "claim-prize", "login-bank", "suspended"):
            assert chosen not in body and chosen not in str(sent.message["Subject"]), chosen
        assert 'through the hosting partner "host-a"' in body
        assert sent.message["Subject"] == "[hashwatch] Confirm your notification address"
        assert served.code(1)  # the code is there, and nothing else was asked
