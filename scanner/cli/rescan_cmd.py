"""``hashwatch rescan``: rescan a directory or a manifest, or re-match the hash log."""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.cli.common import DatabaseUrl, DataDir, fail, settings_or_exit, store_or_exit

if TYPE_CHECKING:
    from reporting.matches.rescans import RescanStore
    from reporting.store import Store
    from scanner.customer_policy import CustomerPolicies
    from scanner.pipeline import HashingConfig
    from scanner.rescan.fetch import FetchPolicy
    from scanner.rescan.progress import Reporter
    from scanner.rescan.sources import Source
    from scanner.rescan.summary import Summary

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if no zone is given) or an age such as ``90m``, ``24h``, ``7d``."""
    now = now or datetime.now(UTC)
    if found := _RELATIVE.match(text.strip()):
        return now - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter("give an ISO time (2026-11-20T00:00:00Z) or an age (24h, 7d)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rescan_command(
    source: Annotated[
        str | None, typer.Argument(help="A directory, or a manifest (CSV or JSON lines).", show_default=False)
    ] = None,
    customer: Annotated[
        str, typer.Option(help="Customer the content belongs to (manifest rows may say).")
    ] = "",
    engine: Annotated[str, typer.Option(help="local (a process pool) or ray.")] = "local",
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Processes (local) or actors (ray); 0: all cores.", min=0)
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    stored: Annotated[
        bool, typer.Option("--stored", help="Re-match the hash log instead of reading content.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="With --stored: entries added since (ISO time or 24h, 7d).")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file (default: in the data dir, per source).")
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Items between checkpoints.", min=1)] = 100,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore an existing checkpoint.")] = False,
    allow_private_urls: Annotated[
        bool,
        typer.Option(
            "--allow-private-urls",
            help="Fetch manifest URLs at private or loopback addresses (an internal object store).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Rescan content (or logged hashes) against today's lists; matches are recorded like any other."""
    from reporting.matches.rescans import RescanStore
    from scanner.app import customer_policies
    from scanner.logs import configure
    from scanner.rescan.fetch import FetchPolicy
    from scanner.rescan.progress import reporter_for
    from scanner.rescan.settings import RescanSettings
    from scanner.rescan.sources import SourceError, open_source
    from scanner.settings import SettingsError, load

    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    configure(settings.log_level, settings.log_json)
    if engine not in ("local", "ray"):
        raise fail("--engine must be local or ray", 2)
    if stored == (source is not None):
        raise fail("give a SOURCE, or --stored (not both)", 2)
    store = store_or_exit(settings)
    rescans = RescanStore(store)
    reporter = reporter_for(quiet=quiet)

    if stored:
        try:
            days = load(RescanSettings).hash_log_days
        except SettingsError as exc:
            raise fail(str(exc), 2) from None
        from scanner.rescan.runner import run_stored

        cutoff = parse_since(since) if since else datetime.now(UTC) - timedelta(days=days)
        rescans.purge_hash_log(datetime.now(UTC) - timedelta(days=days))
        summary = run_stored(
            rescans,
            rescans,
            cutoff,
            customer_id=customer or None,
            reporter=reporter,
            customers=customer_policies(settings, store),
        )
    else:
        assert source is not None
        try:
            opened = open_source(source, customer)
        except SourceError as exc:
            raise fail(str(exc), 2) from None
        path = checkpoint or settings.data_dir / "rescans" / f"{opened.fingerprint[:16]}.json"
        if restart:
            path.unlink(missing_ok=True)
        try:
            summary = _run_source(
                opened,
                store,
                rescans,
                engine,
                jobs,
                address,
                path,
                checkpoint_every,
                reporter,
                settings.hashing,
                customer_policies(settings, store),
                FetchPolicy(allow_private=allow_private_urls),
            )
        except KeyboardInterrupt:
            typer.echo(f"interrupted: run the same command again to resume from {path}", err=True)
            raise typer.Exit(130) from None
    typer.echo(summary.to_json() if as_json else summary.to_text())


def _run_source(
    opened: Source,
    store: Store,
    rescans: RescanStore,
    engine: str,
    jobs: int,
    address: str | None,
    path: Path,
    every: int,
    reporter: Reporter,
    hashing: HashingConfig,
    customers: CustomerPolicies,
    fetching: FetchPolicy,
) -> Summary:
    from scanner.pipeline import DEFAULT_ALGORITHMS
    from scanner.rescan.local import LocalEngine
    from scanner.rescan.runner import run_rescan

    inputs = store.matcher_inputs()
    if engine == "ray":
        if importlib.util.find_spec("ray") is None:
            raise fail("the ray engine needs Ray: pip install 'hashwatch[ray]'", 2)
        from scanner.rescan.ray_engine import RayEngine

        ray_engine = RayEngine(
            inputs, hashing, DEFAULT_ALGORITHMS, actors=jobs, address=address, fetching=fetching
        )
        try:
            return run_rescan(
                opened,
                ray_engine,
                rescans,
                engine_name="ray",
                checkpoint_path=path,
                checkpoint_every=every,
                reporter=reporter,
                customers=customers,
            )
        finally:
            ray_engine.close()
    with LocalEngine(inputs, hashing, DEFAULT_ALGORITHMS, jobs, fetching=fetching) as local:
        return run_rescan(
            opened,
            local,
            rescans,
            engine_name="local",
            checkpoint_path=path,
            checkpoint_every=every,
            reporter=reporter,
            customers=customers,
        )
