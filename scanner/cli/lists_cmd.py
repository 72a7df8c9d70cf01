"""``hashwatch lists``: import and inspect hash lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from index.algorithms import DEFAULT_DECIDING, Algorithm
from index.formats import ListFormatError
from scanner.cli.common import DatabaseUrl, DataDir, actor_name, fail, open_cli_store, settings_or_exit
from scanner.listimport import FORMATS, collect

app = typer.Typer(help="Import and inspect hash lists.", no_args_is_help=True)
_DEFAULT_DECIDE = ",".join(a for a in Algorithm if a in DEFAULT_DECIDING)


@app.command("import")
def import_list(
    path: Annotated[Path, typer.Argument(help="List file, or a directory of images for --format images.")],
    list_name: Annotated[str, typer.Option("--list", help="Name of the list to import into.")],
    list_format: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")],
    source: Annotated[str, typer.Option(help="Where the list came from (kept with the list).")] = "",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed lines and say which.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import hashes into a list. A malformed line imports nothing, unless --skip-bad."""
    if list_format not in FORMATS:
        raise fail(f"unknown format {list_format!r}; choose from {', '.join(FORMATS)}", 2)
    if not path.exists():
        raise fail(f"{path} does not exist", 2)
    settings = settings_or_exit(data_dir=data_dir, database_url=database_url)
    try:
        collected = collect(path, list_format, skip_bad)
    except ListFormatError as exc:
        raise fail(f"{exc}; nothing was imported (use --skip-bad to import the rest)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}; nothing was imported") from None
    from reporting.store import NewEntry

    with open_cli_store(settings) as store:
        result = store.import_entries(
            list_name,
            (NewEntry(c.hash, c.external_id) for c in collected.candidates),
            source=source,
            actor=actor_name(),
        )
    for line in collected.skipped:
        typer.echo(f"skipped: {line}", err=True)
    for line in collected.warnings:
        typer.echo(f"warning: {line}", err=True)
    low = (
        f", {result.low_quality} flagged low quality (PDQ quality below 50: they match only "
        "unrelated flat images' PDQ, see hashwatch lists list)"
        if result.low_quality
        else ""
    )
    typer.echo(
        f"list {list_name!r}: {result.added} added, {result.duplicates} already present, "
        f"{len(collected.skipped)} skipped{low}"
    )


@app.command("list")
def list_lists(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show every list with its entry counts."""
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        lists = store.lists()
    if as_json:
        for info in lists:
            typer.echo(
                json.dumps(
                    {
                        "name": info.name,
                        "source": info.source,
                        "enabled": info.enabled,
                        "thresholds": info.thresholds,
                        "entries": info.entries,
                        "created_at": info.created_at.isoformat(),
                        "kind": info.kind,
                        "review": info.review,
                        "combine": info.combine,
                        "low_quality": info.low_quality,
                        "held": info.held,
                        "decide": list(info.decide),
                    }
                )
            )
        return
    if not lists:
        typer.echo("no lists; import one with: hashwatch lists import PATH --list NAME --format FORMAT")
    for info in lists:
        counts = (
            ", ".join(
                f"{n} {a}" + ("" if a in info.decide else " (not deciding)")
                for a, n in sorted(info.entries.items())
            )
            or "empty"
        )
        state = "" if info.enabled else " (disabled)"
        kind = " [negative]" if info.kind == "negative" else ""
        notes = [
            f"{info.low_quality} low quality" if info.low_quality else "",
            f"{info.held} held by flood protection" if info.held else "",
            f"review band {_pairs(info.review)}" if info.review else "",
            "needs two algorithms" if info.combine == "at_least_two" else "",
        ]
        extra = "; ".join(filter(None, notes))
        typer.echo(f"{info.name}{kind}{state}: {counts}" + (f" ({extra})" if extra else ""))


def _pairs(values: dict[str, int]) -> str:
    return ", ".join(f"{k}<={v}" for k, v in sorted(values.items()))


def _parse_pairs(option: str, given: list[str] | None) -> dict[str, int]:
    parsed = {}
    for text in given or []:
        name, _, value = text.partition("=")
        try:
            parsed[name.strip().lower()] = int(value)
        except ValueError:
            raise fail(f"{option} {text!r}: write it as ALGORITHM=N, e.g. pdq=40", 2) from None
    return parsed


@app.command("create")
def create(
    list_name: Annotated[str, typer.Argument(help="The list.")],
    kind: Annotated[
        str, typer.Option(help="match (known material) or negative (known-benign hashes).")
    ] = "match",
    source: Annotated[str, typer.Option(help="Where the list came from.")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an empty list. A negative list's hits suppress perceptual-hash hits on other lists."""
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        if any(info.name == list_name for info in store.lists()):
            raise fail(f"list {list_name!r} already exists", 2)
        try:
            info = store.ensure_list(list_name, source=source, kind=kind)
        except ValueError as exc:
            raise fail(f"--kind {kind!r}: {exc}", 2) from None
    typer.echo(f"list {info.name!r} created ({info.kind})")


@app.command("holds")
def holds(
    show_all: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Entries held by flood protection: their matches are queued for review, not blocked."""
    from reporting.lists.matching import MatchingAdmin

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        found = MatchingAdmin(store.engine).holds(None if show_all else "held")
    if not found:
        typer.echo("no entries held")
    for hold in found:
        released = (
            f", released by {hold.released_by} at {hold.released_at:%Y-%m-%d %H:%M}"
            if hold.released_at
            else ""
        )
        typer.echo(
            f"{hold.list_name} entry {hold.entry_id} {hold.external_id}: {hold.state} since "
            f"{hold.held_at:%Y-%m-%d %H:%M} UTC (first held match {hold.match_id}){released}"
        )


@app.command("release")
def release(
    entry: Annotated[int, typer.Option("--entry", help="The held entry's id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Release an entry held by flood protection: its matches block again. Servers follow on
    their next list poll."""
    from reporting.lists.matching import MatchingAdmin

    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        try:
            hold = MatchingAdmin(store.engine).release(entry, actor=actor_name())
        except LookupError as exc:
            raise fail(str(exc), 2) from None
    typer.echo(f"{hold.list_name} entry {hold.entry_id} released")


@app.command("policy")
def set_policy(
    list_name: Annotated[str, typer.Argument(help="The list.")],
    report: Annotated[str | None, typer.Option(help="immediately, after_review or never.")] = None,
    block: Annotated[bool | None, typer.Option("--block/--no-block", help="Block matched URLs.")] = None,
    notify: Annotated[bool | None, typer.Option("--notify/--no-notify", help="Notify the customer.")] = None,
    partner: Annotated[str | None, typer.Option(help="Who reports go to (cybertipline).")] = None,
    preserve: Annotated[bool | None, typer.Option("--preserve/--no-preserve", help="Keep evidence.")] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="ALGORITHM=N: block at distance <= N (repeatable), e.g. pdq=31."),
    ] = None,
    review: Annotated[
        list[str] | None,
        typer.Option(
            help="ALGORITHM=N: queue hits above the threshold up to N for review, not blocking "
            "(repeatable), e.g. pdq=40; =0 removes the band."
        ),
    ] = None,
    combine: Annotated[
        str | None, typer.Option(help="any (one algorithm is enough) or at_least_two.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="match or negative.")] = None,
    decide: Annotated[
        str | None,
        typer.Option(
            help=f"The algorithms whose entries decide, comma-separated (default {_DEFAULT_DECIDE}); "
            f"the list's other entries are kept and never match, e.g. {_DEFAULT_DECIDE},dhash."
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show or change what a match on a list sets in motion, and how the list matches. Running
    servers follow within seconds. With --no-block a match is recorded, notified and reported as
    the policy says, and the scan is answered ALLOW."""
    from reporting.lists.matching import MatchingAdmin

    changes = {
        "report": report,
        "block": block,
        "notify": notify,
        "partner": partner,
        "preserve": preserve,
        "decide": decide,
    }
    thresholds = _parse_pairs("--threshold", threshold)
    bands = _parse_pairs("--review", review)
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        try:
            policy = store.set_policy(
                list_name, {k: v for k, v in changes.items() if v is not None}, actor=actor_name()
            )
            if thresholds:
                store.ensure_list(list_name, thresholds=thresholds)
            admin = MatchingAdmin(store.engine)
            if bands or combine is not None or kind is not None:
                matching = admin.set_matching(
                    list_name, kind=kind, review=bands or None, combine=combine, actor=actor_name()
                )
            else:
                matching = admin.matching(list_name)
        except (LookupError, ValueError) as exc:
            raise fail(str(exc), 2) from None
    typer.echo(f"{list_name}: {json.dumps(policy.to_json())}")
    typer.echo(
        f"{list_name} matching: kind {matching.kind}, thresholds {_pairs(matching.thresholds) or 'default'}, "
        f"review band {_pairs(matching.review) or 'none'}, combine {matching.combine}, "
        f"decides on {', '.join(policy.to_json()['decide'])}"
    )


def _change_entries(
    list_name: str,
    status: str,
    entries: list[int] | None,
    hashes: list[str] | None,
    data_dir: object,
    database_url: object,
) -> None:
    from index.hashes import Hash, InvalidHash
    from reporting.lists.changes import ListAdmin

    parsed = []
    for text in hashes or []:
        algorithm, _, hex_value = text.partition(":")
        try:
            parsed.append(Hash.from_hex(algorithm, hex_value))
        except (InvalidHash, ValueError) as exc:
            raise fail(f"--hash {text!r}: {exc} (write it as ALGORITHM:HEX)", 2) from None
    with open_cli_store(settings_or_exit(data_dir=data_dir, database_url=database_url)) as store:
        admin = ListAdmin(store.engine)
        try:
            if not entries and not parsed:
                if status == "removed":
                    raise fail("name the entries to remove with --entry or --hash", 2)
                admin.set_enabled(list_name, status == "active", actor=actor_name())
                typer.echo(f"list {list_name!r} {'enabled' if status == 'active' else 'disabled'}")
                return
            changed = admin.set_entries(list_name, status, entries or [], parsed, actor=actor_name())
        except LookupError as exc:
            raise fail(str(exc), 2) from None
    typer.echo(f"list {list_name!r}: {changed} entries now {status}")


EntryIds = Annotated[list[int] | None, typer.Option("--entry", help="An entry id (repeatable).")]
EntryHashes = Annotated[
    list[str] | None, typer.Option("--hash", help="ALGORITHM:HEX of an entry (repeatable).")
]


@app.command("disable")
def disable(
    list_name: Annotated[str, typer.Argument(help="The list.")],
    entry: EntryIds = None,
    hash_: EntryHashes = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Disable a whole list, or some of its entries. Running servers follow within seconds."""
    _change_entries(list_name, "disabled", entry, hash_, data_dir, database_url)


@app.command("enable")
def enable(
    list_name: Annotated[str, typer.Argument(help="The list.")],
    entry: EntryIds = None,
    hash_: EntryHashes = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Enable a whole list again, or some of its entries."""
    _change_entries(list_name, "active", entry, hash_, data_dir, database_url)


@app.command("remove")
def remove(
    list_name: Annotated[str, typer.Argument(help="The list.")],
    entry: EntryIds = None,
    hash_: EntryHashes = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove entries from a list. They are kept as tombstones, never silently lost."""
    _change_entries(list_name, "removed", entry, hash_, data_dir, database_url)
