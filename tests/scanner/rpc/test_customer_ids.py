"""Customer ids on a real server (port 0, --require-auth) with a real SMTP server, SQLite and
PostgreSQL: a partner's ids live in its own namespace; an id the service already knows (scans,
matches, blocks, daily counts, the hash log, destinations, the match journal) is not a partner's
to create; deleting a customer disables only the destinations it owns, never an operator's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from typer.testing import CliRunner

from index.hashes import Hash
from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.api.hashwatch.v1 import analytics_pb2 as apb
from scanner.api.hashwatch.v1 import analytics_pb2_grpc as apb_grpc
from scanner.api.hashwatch.v1 import customers_pb2 as cpb
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.cli.main import app as cli
from scanner.decision import Decision
from scanner.recording import ScanContext
from tests.conftest import DEMO_UNLISTED
from tests.scanner.rpc.test_customers_service import ROCKET, Metadata, Served, code_of, serve

CAMERA = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
SECRET = "operator-webhook-secret"
INVALID, TAKEN, MISSING = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.NOT_FOUND,
)


@pytest.fixture
def served(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("HASHWATCH_HASH_LOG_CUSTOMERS", "host-a:logged")
    yield from serve(database_url, tmp_path)


def operator(served: Served, *args: str) -> str:
    """``hashwatch …`` run from an operator's shell against the server's database."""
    where = [
        "--data-dir",
        str(served.app.settings.data_dir),
        "--database-url",
        served.app.settings.database_url,
    ]
    result = CliRunner().invoke(cli, [*args, *where])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def destinations(served: Served, customer_id: str) -> list[dict[str, Any]]:
    out = operator(served, "destinations", "list", "--customer", customer_id, "--json")
    # The server in this process logs to the same stdout: its lines are not JSON records.
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def create(served: Served, token: Metadata, customer_id: str, **fields: object) -> cpb.Customer:
    request = cpb.CreateCustomerRequest(customer_id=customer_id, **fields)  # type: ignore[arg-type]
    made: cpb.Customer = served.customers.CreateCustomer(request, metadata=token, timeout=10)
    return made


def test_a_partner_cannot_take_over_an_id_the_edge_already_scanned(served: Served) -> None:
    # The edge scans for shop-x, which nobody created: a listed image is blocked, and its match,
    # block and the day's counts are on record. An operator sends shop-x's notices to a webhook.
    first = served.scan("shop-x", ROCKET, "https://shop-x.example/a.jpg")
    assert first.verdict == pb.VERDICT_BLOCK and first.match_id
    assert served.app.counts is not None
    served.app.counts.flush()
    with WebhookReceiver(secret=SECRET) as hook:
        operator(
            served, "destinations", "add", "--customer", "shop-x", "--kind", "webhook", "--url", hook.url,
            "--secret", SECRET, "--allow-private", "--name", "ops-hook",
        )  # fmt: skip
        [webhook] = destinations(served, "shop-x")

        partner = served.auth("partner", partner="host-a")
        api = served.customers
        # Not in the partner's namespace: refused before anything is looked up, so the answer
        # says nothing about whether shop-x is known.
        for outside in ("shop-x", "SHOP-X", "host-b:shop-x", "host-a", "host-a:", "host-ab:shop-x"):
            assert code_of(lambda: create(served, partner, outside)) == INVALID, outside  # noqa: B023
        assert code_of(lambda: create(served, partner, "shop-x", partner_id="host-a")) == INVALID

        # Nothing of shop-x is the partner's: not its counts, its email, its lists, its deletion.
        analytics = apb_grpc.AnalyticsStub(served.channel)
        narrow = cpb.UpdateCustomerRequest(
            customer_id="shop-x",
            settings=cpb.CustomerSettings(lists=["other"]),
            update_mask=field_mask_pb2.FieldMask(paths=["settings.lists"]),
        )
        served.app.store.ensure_list("other")
        for call in (
            lambda: analytics.GetDailyCounts(
                apb.GetDailyCountsRequest(customer_id="shop-x"), metadata=partner, timeout=10
            ),
            lambda: api.SetEmail(
                cpb.SetEmailRequest(customer_id="shop-x", email="me@partner.example"),
                metadata=partner,
                timeout=10,
            ),
            lambda: api.UpdateCustomer(narrow, metadata=partner, timeout=10),
            lambda: api.EnableCustomer(
                cpb.EnableCustomerRequest(customer_id="shop-x"), metadata=partner, timeout=10
            ),
            lambda: api.DeleteCustomer(
                cpb.DeleteCustomerRequest(customer_id="shop-x"), metadata=partner, timeout=10
            ),
        ):
            assert code_of(call) == MISSING
        assert not served.sink.messages

        # Its own namespaced name is a different id, with no history.
        mine = create(served, partner, "host-a:shop-x")
        assert (mine.customer_id, mine.partner_id) == ("host-a:shop-x", "host-a")
        counts = analytics.GetDailyCounts(
            apb.GetDailyCountsRequest(customer_id="host-a:shop-x"), metadata=partner, timeout=10
        )
        assert list(counts.days) == []
        api.DeleteCustomer(
            cpb.DeleteCustomerRequest(customer_id="host-a:shop-x"), metadata=partner, timeout=10
        )

        # shop-x is still scanned with every list, and its notices still reach the operator.
        time.sleep(0.5)  # past the servers' customer poll (0.1 s)
        again = served.scan("shop-x", ROCKET, "https://shop-x.example/b.jpg")
        assert again.verdict == pb.VERDICT_BLOCK
        [after] = destinations(served, "shop-x")
        assert after == webhook and after["enabled"] and after["owner"] == "operator"
        from scanner.app import make_worker

        make_worker(served.app.store, served.app.reporting).drain()
        # The second match (the first came before the webhook was added).
        hook.wait_for(1)
        assert [e["customer_id"] for e in hook.events()] == ["shop-x"]
        assert hook.valid_signatures()


def test_an_id_already_known_in_the_partners_namespace_is_not_the_partners_to_create(
    served: Served,
) -> None:
    partner = served.auth("partner", partner="host-a")
    # Traffic under the partner's prefix that nobody created, each leaving a different trace.
    served.scan("host-a:allowed", CAMERA)  # a daily count only (no match)
    assert served.app.counts is not None
    served.app.counts.flush()
    served.scan("host-a:matched", ROCKET)  # a match and a block
    served.scan("host-a:logged", CAMERA)  # the scan hash log (HASHWATCH_HASH_LOG_CUSTOMERS)
    assert served.app.hash_log is not None and served.app.hash_log.flush() == 1
    operator(
        served, "destinations", "add", "--customer", "host-a:hooked", "--kind", "email",
        "--to", "ops@operator.example",
    )  # fmt: skip
    assert served.app.journal is not None
    served.app.journal.spool(
        ScanContext(customer_id="host-a:spooled", url="https://s.example/a.jpg"),
        [Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")],
        Decision(),
        b"bytes",
    )
    for known in ("host-a:allowed", "host-a:matched", "host-a:logged", "host-a:hooked", "host-a:spooled"):
        with pytest.raises(grpc.RpcError) as refused:
            create(served, partner, known)
        assert refused.value.code() == TAKEN, known
        assert "only an operator" in str(refused.value.details())
    # A deleted customer's id stays taken, as before.
    create(served, partner, "host-a:gone")
    served.customers.DeleteCustomer(
        cpb.DeleteCustomerRequest(customer_id="host-a:gone"), metadata=partner, timeout=10
    )
    assert code_of(lambda: create(served, partner, "host-a:gone")) == TAKEN

    # An operator may hand a known id to the partner: its history then goes with it, by choice.
    admin = served.auth("customers:write")
    handed = create(served, admin, "host-a:matched", partner_id="host-a")
    assert handed.partner_id == "host-a"
    got = served.customers.GetCustomer(
        cpb.GetCustomerRequest(customer_id="host-a:matched"), metadata=partner, timeout=10
    )
    assert got.customer_id == "host-a:matched"

    # Left empty, the id is assigned inside the namespace.
    assigned = create(served, partner, "")
    assert (
        assigned.customer_id.startswith("host-a:cus_")
        and len(assigned.customer_id) == len("host-a:cus_") + 16
    )


def test_an_operators_ids_stay_out_of_partner_namespaces(served: Served) -> None:
    admin = served.auth("customers:write")
    partner = served.auth("partner", partner="host-a")
    # An id with ':' is in the namespace of the partner named before it: only for that partner.
    assert code_of(lambda: create(served, admin, "host-a:squat")) == INVALID
    assert code_of(lambda: create(served, admin, "host-a:squat", partner_id="host-b")) == INVALID
    assert code_of(lambda: create(served, admin, "x", partner_id="host a")) == INVALID
    made = create(served, admin, "host-a:for-you", partner_id="host-a")
    assert made.partner_id == "host-a"
    # A plain id may be handed to a partner; one for nobody has no ':'.
    assert create(served, admin, "legacy-shop", partner_id="host-a").partner_id == "host-a"
    assert create(served, admin, "own-shop").partner_id == ""
    assert create(served, admin, "").customer_id.startswith("cus_")
    listed = served.customers.ListCustomers(cpb.ListCustomersRequest(), metadata=partner, timeout=10)
    assert [c.customer_id for c in listed.customers] == ["host-a:for-you", "legacy-shop"]
    # Partner ids cannot contain the separator, so no two namespaces overlap.
    for bad in ("host:a", "host a", "-host", "h" * 65):
        with pytest.raises(ValueError, match="partner id"):
            served.tokens.create(["partner"], partner_id=bad)


def test_deleting_a_customer_disables_only_the_destinations_it_owns(served: Served) -> None:
    partner = served.auth("partner", partner="host-a")
    create(served, partner, "host-a:shop")
    # The operator's own destinations for this customer, one of them even named like the
    # customer's notice destination.
    operator(
        served, "destinations", "add", "--customer", "host-a:shop", "--kind", "email",
        "--to", "ops@operator.example", "--name", "customer-email",
    )  # fmt: skip
    operator(
        served, "destinations", "add", "--customer", "host-a:shop", "--kind", "webhook",
        "--url", "http://127.0.0.1:9/hook", "--secret", SECRET, "--allow-private", "--name", "ops-hook",
    )  # fmt: skip
    # The partner verifies its customer's address: that makes the customer's own destination,
    # and leaves the operator's alone.
    served.customers.SetEmail(
        cpb.SetEmailRequest(customer_id="host-a:shop", email="owner@shop.example"),
        metadata=partner,
        timeout=30,
    )
    served.customers.VerifyEmail(
        cpb.VerifyEmailRequest(customer_id="host-a:shop", code=served.code(1)), metadata=partner, timeout=10
    )

    def shown() -> set[tuple[object, ...]]:
        return {
            (d["name"], d.get("owner"), d["enabled"], json.dumps(d["config"].get("to")))
            for d in destinations(served, "host-a:shop")
        }

    assert shown() == {
        ("customer-email", "operator", True, '"ops@operator.example"'),
        ("ops-hook", "operator", True, "null"),
        ("customer-email", "customer", True, '["owner@shop.example"]'),
    }
    deleted = served.customers.DeleteCustomer(
        cpb.DeleteCustomerRequest(customer_id="host-a:shop"), metadata=partner, timeout=10
    )
    assert deleted.destinations_disabled == 1
    assert shown() == {
        ("customer-email", "operator", True, '"ops@operator.example"'),
        ("ops-hook", "operator", True, "null"),
        ("customer-email", "customer", False, '["owner@shop.example"]'),
    }
