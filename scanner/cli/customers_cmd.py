"""``hashwatch customers``: customers, their sites, verified email and scan settings.

Run from a shell, these act as an operator (every customer); ``--partner`` on ``create`` names
the partner that owns the new customer, on ``list`` shows one partner's customers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanner.cli.common import (
    Actor,
    DatabaseUrl,
    DataDir,
    actor_name,
    fail,
    open_cli_store,
    read_secret,
    reporting_settings_or_exit,
    settings_or_exit,
)
from scanner.errors import HashwatchError, InvalidRequest

if TYPE_CHECKING:
    from reporting.customers.store import CustomerStore
    from reporting.customers.values import CustomerView

app = typer.Typer(help="Customers (site owners): sites, verified email, scan settings.", no_args_is_help=True)
sites_app = typer.Typer(help="A customer's hostnames and zones.", no_args_is_help=True)
email_app = typer.Typer(help="A customer's notification email and its verification.", no_args_is_help=True)
app.add_typer(sites_app, name="sites")
app.add_typer(email_app, name="email")

CustomerId = Annotated[str, typer.Argument(help="The customer_id scans carry.")]
Json = Annotated[bool, typer.Option("--json", help="JSON output.")]
Lists = Annotated[
    list[str] | None, typer.Option("--list", help="A hash list that applies (repeat); default every list.")
]
Thresholds = Annotated[
    list[str] | None,
    typer.Option("--threshold", help="ALGORITHM=N, tighter than the lists' own, e.g. pdq=16; repeat."),
]
Degraded = Annotated[
    str | None,
    typer.Option(help="Verdict while the database is away: block, allow, or default (the server's)."),
]
Notify = Annotated[str | None, typer.Option(help="Notices by email: immediate or digest.")]


@contextmanager
def _customers(data_dir: object, database_url: object, mail: bool = False) -> Iterator[CustomerStore]:
    from reporting.customers.store import CustomerStore

    mailer, limits = None, None
    if mail:
        from reporting.customers.email import SmtpVerificationMailer
        from reporting.customers.mail_limits import MailLimits
        from reporting.destinations.email import SmtpSettings

        reporting = reporting_settings_or_exit()
        limits = MailLimits.from_settings(reporting)
        try:
            mailer = SmtpVerificationMailer(SmtpSettings.from_settings(reporting))
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    with open_cli_store(settings) as store:
        try:
            yield CustomerStore(store.engine, mailer, mail_limits=limits)
        except HashwatchError as exc:
            raise fail(str(exc), 2 if isinstance(exc, InvalidRequest) else 1) from None


def _record(view: CustomerView) -> dict[str, Any]:
    return {
        "customer_id": view.customer_id,
        "partner_id": view.partner_id,
        "name": view.name,
        "email": view.email,
        "email_state": view.email_state,
        "enabled": view.enabled,
        "settings": view.settings.to_json(),
        "sites": list(view.sites),
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }


def _show(view: CustomerView, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_record(view)))
        return
    settings = view.settings
    thresholds = ",".join(f"{k}={v}" for k, v in sorted(settings.thresholds.items())) or "lists'"
    typer.echo(
        f"{view.customer_id}  {'enabled' if view.enabled else 'disabled'}  partner={view.partner_id or '-'}  "
        f"name={view.name or '-'}  email={view.email or '-'} ({view.email_state})  "
        f"sites={','.join(view.sites) or '-'}  lists={','.join(settings.lists) or 'all'}  "
        f"thresholds={thresholds}  degraded={settings.degraded_verdict or 'default'}  "
        f"notify={settings.notify}"
    )


def _settings_changes(
    lists: list[str] | None,
    all_lists: bool,
    thresholds: list[str] | None,
    degraded: str | None,
    notify: str | None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if all_lists:
        changes["lists"] = ()
    elif lists:
        changes["lists"] = tuple(lists)
    if thresholds is not None:
        parsed = {}
        for item in thresholds:
            algorithm, _, value = item.partition("=")
            if not value.strip().isdigit():
                raise fail(f"--threshold {item!r}: use ALGORITHM=N, e.g. pdq=16", 2)
            parsed[algorithm.strip().lower()] = int(value)
        changes["thresholds"] = parsed
    if degraded is not None:
        changes["degraded_verdict"] = "" if degraded == "default" else degraded
    if notify is not None:
        changes["notify"] = notify
    return changes


@app.command("create")
def create(
    customer_id: Annotated[
        str,
        typer.Argument(
            help="The id scans will carry. An id with ':' is in the namespace of the partner before "
            "it (host-a:shop) and needs --partner host-a; empty: one is assigned (cus_…, or "
            "PARTNER:cus_… with --partner)."
        ),
    ] = "",
    name: Annotated[str, typer.Option(help="Who the customer is.")] = "",
    partner: Annotated[
        str | None,
        typer.Option(
            help="The partner that owns the customer. An id already seen in scans may be handed "
            "over: its history goes with it."
        ),
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Hostname or *.zone; repeat.")] = None,
    lists: Lists = None,
    threshold: Thresholds = None,
    degraded: Degraded = None,
    notify: Notify = None,
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a customer (disabled until its email is verified and it is enabled). Ids are
    global and never reused; docs/customers.md says who may create which."""
    from reporting.customers.values import CustomerSettings

    changes = _settings_changes(lists, False, threshold, degraded, notify)
    with _customers(data_dir, database_url) as customers:
        view = customers.create(
            customer_id,
            None,
            name=name,
            settings=CustomerSettings(**changes),
            sites=site or [],
            owner=partner,
            actor=actor_name(actor),
        )
    _show(view, as_json)


@app.command("get")
def get(
    customer_id: CustomerId, as_json: Json = False, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Show one customer (the email masked)."""
    with _customers(data_dir, database_url) as customers:
        view = customers.get(customer_id, None)
    _show(view, as_json)


@app.command("list")
def list_customers(
    partner: Annotated[str | None, typer.Option(help="Only this partner's customers.")] = None,
    as_json: Json = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List customers in creation order (JSON: one object per line)."""
    with _customers(data_dir, database_url) as customers:
        token = ""
        while True:
            views, token = customers.list_page(partner, 500, token)
            for view in views:
                _show(view, as_json)
            if not token:
                break


@app.command("update")
def update(
    customer_id: CustomerId,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    lists: Lists = None,
    all_lists: Annotated[bool, typer.Option("--all-lists", help="Every list applies again.")] = False,
    threshold: Thresholds = None,
    clear_thresholds: Annotated[
        bool, typer.Option("--clear-thresholds", help="Back to the lists' own.")
    ] = False,
    degraded: Degraded = None,
    notify: Notify = None,
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change the name or settings; what is not given stays. Running servers follow within seconds."""
    changes = _settings_changes(lists, all_lists, [] if clear_thresholds else threshold, degraded, notify)
    with _customers(data_dir, database_url) as customers:
        view = customers.update(customer_id, None, name=name, settings=changes, actor=actor_name(actor))
    _show(view, as_json)


@app.command("delete")
def delete(
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a customer. Its matches, blocks, evidence and reports are kept; its own notice
    destination is disabled, the operator's destinations for it are not (docs/customers.md)."""
    if not yes:
        typer.confirm(f"delete customer {customer_id}?", abort=True)
    with _customers(data_dir, database_url) as customers:
        result = customers.delete(customer_id, None, actor=actor_name(actor))
    if as_json:
        typer.echo(json.dumps(result.__dict__))
    else:
        typer.echo(
            f"deleted {result.customer_id}; kept {result.matches_kept} match(es), {result.blocks_kept} "
            f"block(s), {result.evidence_kept} evidence record(s); "
            f"{result.destinations_disabled} of its own destination(s) disabled"
        )


@sites_app.command("add")
def add_site(
    customer_id: CustomerId,
    host: Annotated[str, typer.Argument(help="shop.example, or *.example.org for a zone.")],
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a site (a name belongs to one customer only)."""
    with _customers(data_dir, database_url) as customers:
        view = customers.add_site(customer_id, None, host, actor=actor_name(actor))
    _show(view, as_json)


@sites_app.command("remove")
def remove_site(
    customer_id: CustomerId,
    host: Annotated[str, typer.Argument(help="The site to remove.")],
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a site."""
    with _customers(data_dir, database_url) as customers:
        view = customers.remove_site(customer_id, None, host, actor=actor_name(actor))
    _show(view, as_json)


@email_app.command("set")
def set_email(
    customer_id: CustomerId,
    email: Annotated[str, typer.Argument(help="Where notices go once verified.")],
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set the address and email it a one-time code (HASHWATCH_SMTP_*); it expires in 24 hours.
    Within the sending limits (HASHWATCH_VERIFY_MAILS_PER_CALLER, per hour by default)."""
    with _customers(data_dir, database_url, mail=True) as customers:
        view = customers.set_email(customer_id, None, email, actor=actor_name(actor))
    _show(view, as_json)


@email_app.command("verify")
def verify_email(
    customer_id: CustomerId,
    code: Annotated[
        str,
        typer.Argument(
            callback=read_secret, help="The code from the email; '-' reads it from standard input."
        ),
    ],
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Enter the code (5 attempts)."""
    with _customers(data_dir, database_url) as customers:
        view = customers.verify_email(customer_id, None, code, actor=actor_name(actor))
    _show(view, as_json)


@app.command("enable")
def enable(
    customer_id: CustomerId,
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Scan with this customer's settings (needs a verified email)."""
    with _customers(data_dir, database_url) as customers:
        view = customers.set_enabled(customer_id, None, True, actor=actor_name(actor))
    _show(view, as_json)


@app.command("disable")
def disable(
    customer_id: CustomerId,
    as_json: Json = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Stop: its scans get the unknown-customer behaviour (HASHWATCH_UNKNOWN_CUSTOMER)."""
    with _customers(data_dir, database_url) as customers:
        view = customers.set_enabled(customer_id, None, False, actor=actor_name(actor))
    _show(view, as_json)
