"""``hashwatch analysts``: the accounts of the people who review matches."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.cli.common import Actor, DatabaseUrl, DataDir, actor_name, fail, open_cli_store, settings_or_exit

if TYPE_CHECKING:
    from reporting.access.accounts import Accounts

app = typer.Typer(
    help="Analyst accounts: password + TOTP, roles mapped to token scopes.", no_args_is_help=True
)


@contextmanager
def _accounts(data_dir: object, database_url: object) -> Iterator[Accounts]:
    from reporting.access.accounts import Accounts

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        yield Accounts(store.engine)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name: a-z 0-9 . _ -")],
    role: Annotated[str, typer.Option(help="analyst, lead, auditor or admin.")],
    display_name: Annotated[str, typer.Option(help="Shown in the review page and the audit log.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an account; prints its TOTP secret and recovery codes once."""
    from reporting.access.accounts import AccountError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with _accounts(data_dir, database_url) as accounts:
            enrolment = accounts.create(username, password, role, display_name, actor=actor_name(actor))
    except AccountError as exc:
        raise fail(str(exc), 2) from None
    info = enrolment.info
    typer.echo(f"created analyst {info.username} ({info.role}: {', '.join(sorted(info.scopes))})")
    typer.echo("shown only this once; hand them to the analyst over a safe channel:")
    typer.echo(f"totp secret: {enrolment.totp_secret}")
    typer.echo(f"totp uri:    {enrolment.provisioning_uri}")
    typer.echo("recovery codes (each works once):")
    for code in enrolment.recovery_codes:
        typer.echo(f"  {code}")


@app.command("list")
def list_analysts(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List accounts."""
    with _accounts(data_dir, database_url) as accounts:
        infos = accounts.list()
    for info in infos:
        state = "disabled" if info.disabled_at else "locked" if info.locked_until else "active"
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "username": info.username,
                        "display_name": info.display_name,
                        "role": info.role,
                        "state": state,
                        "recovery_codes_left": info.recovery_codes_left,
                        "created_at": info.created_at.isoformat(),
                        "last_login_at": info.last_login_at.isoformat() if info.last_login_at else None,
                    }
                )
            )
        else:
            last = info.last_login_at.isoformat(timespec="seconds") if info.last_login_at else "never"
            typer.echo(
                f"{info.username}  {info.role:8} {state:8} last_login={last}  "
                f"recovery_codes_left={info.recovery_codes_left}  {info.display_name}"
            )


@app.command("disable")
def disable(
    username: Annotated[str, typer.Argument(help="The account to disable.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Disable an account: it can no longer log in."""
    from reporting.access.accounts import AccountError

    try:
        with _accounts(data_dir, database_url) as accounts:
            changed = accounts.disable(username, actor=actor_name(actor), reason=reason)
    except AccountError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"analyst {username} disabled" if changed else f"analyst {username} was already disabled")
