"""``hashwatch hash``: one JSON object per file on stdout."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from index.hashes import Algorithm
from scanner.pipeline import HashingConfig, HashMode, hash_content

ALL_ALGORITHMS = ",".join(a.value for a in Algorithm)


def hash_file(path: str, algorithms: tuple[Algorithm, ...], mode: HashMode) -> dict[str, Any]:
    record: dict[str, Any] = {"path": path}
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        return {**record, "outcome": "unreadable", "reason": exc.strerror or str(exc)}
    outcome = hash_content(content, algorithms, HashingConfig(mode=mode))
    record["outcome"] = outcome.outcome.value
    if outcome.reason:
        record["reason"] = outcome.reason
    for value in outcome.hashes:
        if value.frame:
            record.setdefault("frames", {}).setdefault(str(value.frame), {})[value.algorithm.value] = (
                value.hex
            )
            continue
        record[value.algorithm.value] = value.hex
        if value.quality is not None:
            record[f"{value.algorithm.value}_quality"] = value.quality
    return record


def _hash_all(
    paths: list[str], algorithms: tuple[Algorithm, ...], mode: HashMode, jobs: int
) -> Iterator[dict[str, Any]]:
    if jobs <= 1 or len(paths) <= 1:
        for path in paths:
            yield hash_file(path, algorithms, mode)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        # map keeps input order, so output lines follow the command line.
        yield from pool.map(hash_file, paths, [algorithms] * len(paths), [mode] * len(paths), chunksize=4)


def parse_algorithms(text: str) -> tuple[Algorithm, ...]:
    try:
        return tuple(Algorithm(name.strip().lower()) for name in text.split(",") if name.strip())
    except ValueError:
        raise typer.BadParameter(f"choose from {ALL_ALGORITHMS}") from None


def hash_command(
    files: Annotated[list[Path], typer.Argument(help="Image files to hash.")],
    exact: Annotated[bool, typer.Option("--exact", help="Reproduce pdqhash/imagehash bit for bit.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Processes to use (default: all cores).")] = 0,
    algorithms: Annotated[str, typer.Option(help="Comma-separated algorithms.")] = ALL_ALGORITHMS,
) -> None:
    """Hash image files; print one JSON object per file."""
    chosen = parse_algorithms(algorithms)
    mode = HashMode.EXACT if exact else HashMode.FAST
    workers = jobs if jobs > 0 else (os.cpu_count() or 1)
    for record in _hash_all([str(f) for f in files], chosen, mode, workers):
        typer.echo(json.dumps(record, sort_keys=False))
