"""``hashwatch tokens``: scoped API tokens (create shows the secret once, list, revoke, verify)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.cli.common import (
    Actor,
    DatabaseUrl,
    DataDir,
    actor_name,
    fail,
    open_cli_store,
    read_secret,
    settings_or_exit,
)

if TYPE_CHECKING:
    from reporting.access.tokens import TokenInfo, TokenStore

app = typer.Typer(help="Scoped API tokens for the gRPC service (serve --require-auth).", no_args_is_help=True)


@contextmanager
def _tokens(data_dir: object, database_url: object) -> Iterator[TokenStore]:
    from reporting.access.tokens import TokenStore

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        yield TokenStore(store.engine)


def _when(at: datetime | None, never: str = "never") -> str:
    return at.isoformat(timespec="seconds") if at else never


def _describe(info: TokenInfo, now: datetime) -> str:
    where = ",".join(info.allowed_cidrs) or "any address"
    bound = f"partner={info.partner_id}  " if info.partner_id else ""
    bound += f"customer={info.customer_id}  " if info.customer_id else ""
    return (
        f"{info.public_id}  {info.status(now):8} {info.name or '-'}  scopes={','.join(info.scopes)}  {bound}"
        f"from={where}  expires={_when(info.expires_at)}  last_used={_when(info.last_used_at)}"
    )


@app.command("create")
def create(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help=(
                "scan, lists:read, lists:write, review:read, review:write, audit:read, "
                "customers:read, customers:write, analytics:read, partner (with --partner), "
                "customer:appeal (with --customer) or admin; repeat."
            ),
        ),
    ],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. edge-fra1.")] = "",
    ttl: Annotated[str | None, typer.Option(help="Lifetime, e.g. 90d, 12h; default: no expiry.")] = None,
    ip: Annotated[
        list[str] | None, typer.Option("--ip", help="Address or CIDR the token may be used from; repeat.")
    ] = None,
    partner: Annotated[
        str | None,
        typer.Option(
            "--partner", help="The partner a --scope partner token is bound to (its customers only)."
        ),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="The customer a --scope customer:appeal token acts for (its own cases only).",
        ),
    ] = None,
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token. The secret is printed once, as the last line; only its hash is kept."""
    from reporting.access.token_format import parse_ttl
    from reporting.access.tokens import TokenError
    from reporting.models import utcnow

    try:
        lifetime = parse_ttl(ttl) if ttl else None
        with _tokens(data_dir, database_url) as tokens:
            new = tokens.create(
                scope,
                name=name,
                ttl=lifetime,
                cidrs=ip or [],
                actor=actor_name(actor),
                partner_id=partner,
                customer_id=customer,
            )
    except (ValueError, TokenError) as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"created {_describe(new.info, utcnow())}")
    typer.echo("the secret follows; it is shown only this once:")
    typer.echo(new.secret)


@app.command("list")
def list_tokens(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    active: Annotated[bool, typer.Option("--active", help="Leave out revoked tokens.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List tokens (never their secrets)."""
    from reporting.models import utcnow

    now = utcnow()
    with _tokens(data_dir, database_url) as tokens:
        infos = tokens.list(include_revoked=not active)
    for info in infos:
        if as_json:
            record = {
                "id": info.public_id,
                "name": info.name,
                "status": info.status(now),
                "scopes": info.scopes,
                "allowed_cidrs": info.allowed_cidrs,
                "partner_id": info.partner_id,
                "customer_id": info.customer_id,
                "created_by": info.created_by,
            }
            for key in ("created_at", "expires_at", "revoked_at", "last_used_at"):
                value = getattr(info, key)
                record[key] = value.isoformat() if value else None
            typer.echo(json.dumps(record))
        else:
            typer.echo(_describe(info, now))


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (as `tokens list` shows it).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    actor: Actor = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token. Running servers refuse it within 30 s (their cache of verified tokens)."""
    from reporting.access.tokens import TokenError

    try:
        with _tokens(data_dir, database_url) as tokens:
            changed = tokens.revoke(token_id, actor=actor_name(actor), reason=reason)
    except TokenError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"token {token_id} revoked" if changed else f"token {token_id} was already revoked")


@app.command("verify")
def verify(
    secret: Annotated[
        str | None,
        typer.Argument(
            callback=read_secret, help="The secret; read from standard input when left out or '-'."
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check a secret: exit 0 and describe the token when it is usable now, 1 when it is not."""
    from reporting.models import utcnow
    from scanner.auth import Unauthenticated

    if secret is None:
        secret = sys.stdin.readline()
    try:
        with _tokens(data_dir, database_url) as tokens:
            info = tokens.verify(secret.strip())
    except Unauthenticated as exc:
        raise fail(f"not valid: {exc}", 1) from None
    typer.echo(f"valid {_describe(info, utcnow())}")
