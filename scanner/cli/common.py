"""Helpers shared by the CLI commands."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reporting.settings import ReportingSettings
from scanner.settings import Settings, SettingsError, load, load_settings

if TYPE_CHECKING:
    from reporting.store import Store

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the embedded database lives (env HASHWATCH_DATA_DIR)."),
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL; default SQLite in the data dir.")
]


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def reporting_settings_or_exit() -> ReportingSettings:
    try:
        return load(ReportingSettings)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def store_or_exit(settings: Settings, reporting: ReportingSettings | None = None) -> Store:
    """``open_store``, or exit 2 with its message when the local key is not the database's."""
    from reporting.keys import LocalKeyError
    from scanner.app import open_store

    try:
        return open_store(settings, reporting)
    except LocalKeyError as exc:
        raise fail(str(exc), 2) from None


@contextmanager
def open_cli_store(settings: Settings, reporting: ReportingSettings | None = None) -> Iterator[Store]:
    """The store for one command; its connections are closed when the command ends."""
    store = store_or_exit(settings, reporting)
    try:
        yield store
    finally:
        store.engine.dispose()


Actor = Annotated[
    str | None, typer.Option("--actor", help="Who is doing this, for the audit log (default cli:<os user>).")
]


def actor_name(actor: str | None = None) -> str:
    """Who the audit log names for a command run from a shell: ``--actor``, else the OS user."""
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


STDIN = "-"


def read_secret(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """The value of an option or argument that is a secret. ``-`` reads it from the first line
    of standard input; one typed on the command line works but is warned about, since every
    local user can read a process's arguments (``ps``, ``/proc/<pid>/cmdline``)."""
    if value == STDIN:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise fail(f"{_name(param)} -: standard input held no line to read it from", 2)
        return line
    source = ctx.get_parameter_source(param.name) if param.name else None
    # By name: typer carries its own copy of click's ParameterSource.
    if value and source is not None and source.name == "COMMANDLINE":
        instead = f"${param.envvar} or " if isinstance(param.envvar, str) else ""
        typer.echo(
            f"warning: {_name(param)} on the command line is visible to other local users; "
            f"give it as {instead}'{_name(param)} -' (standard input) instead",
            err=True,
        )
    return value


def _name(param: typer.CallbackParam) -> str:
    return param.opts[0] if param.opts and param.opts[0].startswith("-") else (param.name or "").upper()


def secret_option(envvar: str, help: str) -> Any:
    """A ``typer.Option`` for a secret: also read from ``envvar``, or from standard input as ``-``."""
    return typer.Option(envvar=envvar, callback=read_secret, help=f"{help} '-' reads it from standard input.")
