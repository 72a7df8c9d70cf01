"""``hashwatch destinations``: where a customer's notifications go."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from scanner.cli.common import (
    DatabaseUrl,
    DataDir,
    fail,
    open_cli_store,
    reporting_settings_or_exit,
    secret_option,
    settings_or_exit,
)

app = typer.Typer(
    help="Customers' notification destinations: email, webhook, PagerDuty.", no_args_is_help=True
)


@contextmanager
def _admin(data_dir: object, database_url: object) -> Iterator[tuple[Any, Any, Any]]:
    from reporting.destinations.admin import DestinationAdmin

    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    reporting = reporting_settings_or_exit()
    with open_cli_store(settings, reporting) as store:
        yield DestinationAdmin(store.engine, reporting), store, reporting


@app.command("add")
def add(
    customer: Annotated[str, typer.Option(help="Customer id the destination belongs to.")],
    kind: Annotated[str, typer.Option(help="email, webhook or pagerduty.")],
    to: Annotated[str | None, typer.Option(help="email: the address to notify.")] = None,
    url: Annotated[str | None, typer.Option(help="webhook: the URL to POST to.")] = None,
    secret: Annotated[
        str | None, secret_option("HASHWATCH_WEBHOOK_SECRET", "webhook: the HMAC signing secret.")
    ] = None,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="webhook/pagerduty: allow private and loopback addresses.")
    ] = False,
    routing_key: Annotated[
        str | None,
        secret_option("HASHWATCH_PAGERDUTY_ROUTING_KEY", "pagerduty: the integration's routing key."),
    ] = None,
    severity: Annotated[str, typer.Option(help="pagerduty: critical, error, warning or info.")] = "critical",
    events_url: Annotated[str | None, typer.Option(help="pagerduty: Events API URL (for testing).")] = None,
    digest: Annotated[
        bool, typer.Option("--digest", help="email: one daily digest instead of a mail per match.")
    ] = False,
    name: Annotated[str, typer.Option(help="A label for the destination.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a destination; its config is checked before it is stored. It is the operator's:
    deleting the customer, or anything the customer does, leaves it as it is."""
    config: dict[str, Any]
    if kind == "email":
        config = {"to": to}
    elif kind == "webhook":
        config = {"url": url, "secret": secret, "allow_private": allow_private}
    elif kind == "pagerduty":
        config = {"routing_key": routing_key, "severity": severity, "allow_private": allow_private}
        if events_url:
            config["events_url"] = events_url
    else:
        raise fail(f"unknown kind {kind!r}; choose from email, webhook, pagerduty", 2)
    with _admin(data_dir, database_url) as (admin, _, _):
        from reporting.destinations import DestinationConfigError

        try:
            destination_id = admin.add(
                customer, kind, config, name=name, mode="digest" if digest else "immediate"
            )
        except (ValueError, DestinationConfigError) as exc:
            raise fail(str(exc), 2) from None
        typer.echo(f"destination {destination_id} added for customer {customer!r}")


@app.command("list")
def list_destinations(
    customer: Annotated[str | None, typer.Option(help="Only this customer's destinations.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List destinations (secrets are never shown) and who owns each: the operator (added here)
    or the customer (its verified email, made by the Customers service)."""
    with _admin(data_dir, database_url) as (admin, _, _):
        for view in admin.all(customer):
            if as_json:
                record = dataclasses.asdict(view)
                record["created_at"] = view.created_at.isoformat()
                typer.echo(json.dumps(record))
            else:
                state = "" if view.enabled else " (disabled)"
                typer.echo(
                    f"{view.id} {view.customer_id} {view.kind} {view.mode}{state} owner={view.owner} "
                    f"{json.dumps(view.config)}"
                )


@app.command("test")
def test_destination(
    destination_id: Annotated[int, typer.Argument(help="Destination id.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for the delivery.")] = 30.0,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a test event to a destination now and print what happened."""
    with _admin(data_dir, database_url) as (admin, store, reporting):
        from scanner.app import make_worker

        try:
            event_id = admin.queue_test(destination_id)
        except LookupError as exc:
            raise fail(str(exc), 2) from None
        worker = make_worker(store, reporting)
        deadline = time.monotonic() + wait
        while True:
            worker.run_once()
            [delivery] = [d for d in admin.history(destination_id) if d.event_id == event_id]
            if delivery.state in ("delivered", "dead") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        detail = f": {delivery.last_error}" if delivery.last_error else ""
        typer.echo(f"test event {event_id}: {delivery.state} after {delivery.attempts} attempt(s){detail}")
        if delivery.state != "delivered":
            raise typer.Exit(1)


@app.command("history")
def history(
    destination_id: Annotated[int, typer.Argument(help="Destination id.")],
    limit: Annotated[int, typer.Option(help="Newest N deliveries.")] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a destination's deliveries, newest first."""
    with _admin(data_dir, database_url) as (admin, _, _):
        for d in admin.history(destination_id, limit):
            error = f" {d.last_error}" if d.last_error else ""
            when = f"{d.created_at:%Y-%m-%d %H:%M:%S}"
            typer.echo(f"{d.id} {when} {d.event_kind} {d.event_id} {d.state} x{d.attempts}{error}")


@app.command("disable")
def disable(
    destination_id: Annotated[int, typer.Argument(help="Destination id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Stop sending to a destination (its history is kept)."""
    with _admin(data_dir, database_url) as (admin, _, _):
        try:
            admin.set_enabled(destination_id, False)
        except LookupError as exc:
            raise fail(str(exc), 2) from None
        typer.echo(f"destination {destination_id} disabled")
