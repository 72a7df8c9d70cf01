"""Helpers shared by the CLI commands."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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


@contextmanager
def open_cli_store(settings: Settings, reporting: ReportingSettings | None = None) -> Iterator[Store]:
    """The store for one command; its connections are closed when the command ends."""
    from scanner.app import open_store

    store = open_store(settings, reporting)
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
