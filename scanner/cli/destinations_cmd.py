"""``hashwatch destinations``: where a customer's notifications go."""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from reporting.destinations import DestinationConfigError
from reporting.destinations.registry import KINDS, NAMES, find_kind
from reporting.destinations.schema import ConfigField, DestinationKind
from scanner.cli.common import (
    DatabaseUrl,
    DataDir,
    fail,
    open_cli_store,
    reporting_settings_or_exit,
    secret_option,
    settings_or_exit,
)

app = typer.Typer(help=f"Customers' notification destinations: {', '.join(NAMES)}.", no_args_is_help=True)


@contextmanager
def _admin(data_dir: object, database_url: object) -> Iterator[tuple[Any, Any, Any]]:
    from reporting.destinations.admin import DestinationAdmin

    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    reporting = reporting_settings_or_exit()
    with open_cli_store(settings, reporting) as store:
        yield DestinationAdmin(store.engine, reporting), store, reporting


# ``add`` has its own options and one flag per field of the registered kinds (schema.py): a flag
# shared by kinds that declare the same field, a secret read from an environment variable or
# standard input. A field must not take one of ``add``'s own names.
_OWN = frozenset({"customer", "kind", "digest", "name", "data_dir", "database_url"})


@dataclass(frozen=True)
class Flag:
    spec: ConfigField
    kinds: tuple[str, ...]

    def parameter(self) -> inspect.Parameter:
        spec = self.spec
        option = "--" + spec.name.replace("_", "-")
        text = f"{'/'.join(self.kinds)}: {spec.help}"
        if spec.choices:
            text += f" {', '.join(spec.choices[:-1])} or {spec.choices[-1]}."
        if spec.type == "boolean":
            names = f"{option}/--no-{option[2:]}" if spec.default else option
            return _parameter(spec.name, bool, typer.Option(names, help=text), bool(spec.default))
        if spec.secret:
            envvar = f"HASHWATCH_{self.kinds[0]}_{spec.name}".upper()
            return _parameter(spec.name, str | None, secret_option(envvar, text), None)
        # A field with a few values is stored as chosen or as its default; any other when given.
        default = spec.default if spec.choices else None
        return _parameter(spec.name, str | None, typer.Option(option, help=text), default)


def _parameter(
    name: str, kind: object, option: Any = None, default: object = inspect.Parameter.empty
) -> inspect.Parameter:
    annotation = kind if option is None else Annotated[kind, option]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def flags_for(kinds: Sequence[DestinationKind]) -> list[Flag]:
    flags: dict[str, Flag] = {}
    for kind in kinds:
        for spec in (s for s in kind.fields if s.flag):
            if spec.name in _OWN:
                raise ValueError(f"{kind.name}: field {spec.name!r} has the name of an option of 'add'")
            known = flags.get(spec.name)
            flags[spec.name] = Flag(spec, (known.kinds if known else ()) + (kind.name,))
    return list(flags.values())


def _given_config(kind: DestinationKind, given: dict[str, Any]) -> dict[str, Any]:
    """What the flags say of ``kind``'s fields: a flag not given is left out of the config."""
    return {s.name: given[s.name] for s in kind.fields if s.flag and given.get(s.name) is not None}


def add(**given: Any) -> None:
    """Add a destination; its config is checked before it is stored. It is the operator's:
    deleting the customer, or anything the customer does, leaves it as it is."""
    customer, kind_name, name = given.pop("customer"), given.pop("kind"), given.pop("name")
    mode = "digest" if given.pop("digest") else "immediate"
    data_dir, database_url = given.pop("data_dir"), given.pop("database_url")
    kind = find_kind(kind_name)
    if kind is None:
        raise fail(f"unknown kind {kind_name!r}; choose from {', '.join(NAMES)}", 2)
    config = _given_config(kind, given)
    with _admin(data_dir, database_url) as (admin, _, _):
        try:
            destination_id = admin.add(customer, kind.name, config, name=name, mode=mode)
        except (ValueError, DestinationConfigError) as exc:
            raise fail(str(exc), 2) from None
        typer.echo(f"destination {destination_id} added for customer {customer!r}")


def _add_signature() -> inspect.Signature:
    digesting = "/".join(k.name for k in KINDS if k.digest)
    kinds = f"{', '.join(NAMES[:-1])} or {NAMES[-1]}."
    return inspect.Signature(
        [
            _parameter("customer", str, typer.Option(help="Customer id the destination belongs to.")),
            _parameter("kind", str, typer.Option(help=kinds)),
            *(flag.parameter() for flag in flags_for(KINDS)),
            _parameter(
                "digest",
                bool,
                typer.Option("--digest", help=f"{digesting}: one daily digest instead of a mail per match."),
                False,
            ),
            _parameter("name", str, typer.Option(help="A label for the destination."), ""),
            _parameter("data_dir", DataDir, default=None),
            _parameter("database_url", DatabaseUrl, default=None),
        ]
    )


def _register_add() -> None:
    # typer reads a command's options from its signature; this one is made from the kinds.
    signature = _add_signature()
    add.__signature__ = signature  # type: ignore[attr-defined]
    add.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    app.command("add")(add)


_register_add()


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
