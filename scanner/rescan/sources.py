"""What to rescan: every file under a directory, or the rows of a manifest (CSV or JSON lines).

A manifest row names where to read the content (``path``, a local path or an http(s) URL), the
customer it belongs to (``customer``) and the URL it is served under (``url``, used for the block
and the customer's notification). Items come in a fixed order so a checkpoint can be a position.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from index.text import refused_character

LOCATION_KEYS = ("path", "location", "fetch")
CUSTOMER_KEYS = ("customer", "customer_id")


class SourceError(Exception):
    """A source that cannot be read: the message is meant for the operator."""


@dataclass(frozen=True)
class Item:
    index: int
    # A local path or an http(s) URL to read the content from.
    location: str
    customer_id: str
    # The URL the content is served under (recorded with the match; blocks are per URL).
    url: str


@dataclass(frozen=True)
class Source:
    description: str
    items: tuple[Item, ...]

    @property
    def fingerprint(self) -> str:
        """Changes whenever the items do: a checkpoint is only resumed for the same source."""
        digest = hashlib.sha256()
        for item in self.items:
            digest.update(f"{item.location}\0{item.customer_id}\0{item.url}\n".encode())
        return digest.hexdigest()


def open_source(spec: str, customer_id: str = "") -> Source:
    path = Path(spec)
    if path.is_dir():
        return directory_source(path, customer_id)
    if path.is_file():
        return manifest_source(path, customer_id)
    raise SourceError(f"{spec}: neither a directory nor a manifest file")


def directory_source(root: Path, customer_id: str = "") -> Source:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        files.extend(Path(dirpath) / name for name in sorted(filenames) if not name.startswith("."))
    items = tuple(Item(i, str(p.resolve()), customer_id, p.resolve().as_uri()) for i, p in enumerate(files))
    return Source(f"directory {root}", items)


def manifest_source(path: Path, customer_id: str = "") -> Source:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read the manifest: {exc}") from exc
    first = next((line for line in text.splitlines() if line.strip()), "")
    rows = _json_lines(path, text) if first.lstrip().startswith("{") else _csv_rows(path, text)
    items: list[Item] = []
    for number, row in rows:
        location = next((str(row[k]).strip() for k in LOCATION_KEYS if row.get(k)), "")
        if not location:
            raise SourceError(f"{path}:{number}: no {' / '.join(LOCATION_KEYS)} column")
        if not _is_remote(location) and not Path(location).is_absolute():
            location = str((path.parent / location).resolve())
        customer = next((str(row[k]).strip() for k in CUSTOMER_KEYS if row.get(k)), customer_id)
        url = str(row.get("url") or "").strip() or (
            location if _is_remote(location) else Path(location).as_uri()
        )
        for name, value in (("customer", customer), ("url", url)):
            # Recorded with the match: refused as the scan service refuses it (scanner.rpc.convert).
            if refused := refused_character(value):
                raise SourceError(f"{path}:{number}: {name} contains {refused}")
        items.append(Item(len(items), location, customer, url))
    return Source(f"manifest {path}", tuple(items))


def _is_remote(location: str) -> bool:
    return "://" in location


def _json_lines(path: Path, text: str) -> list[tuple[int, dict[str, object]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise SourceError(f"{path}:{number}: each line must be a JSON object")
        rows.append((number, row))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, object]]]:
    reader = csv.DictReader(text.splitlines())
    names = {n.strip().lower() for n in reader.fieldnames or ()}
    if not names & set(LOCATION_KEYS):
        raise SourceError(f"{path}: the CSV header must name a {' / '.join(LOCATION_KEYS)} column")
    return [(reader.line_num, {k.strip().lower(): v for k, v in row.items() if k}) for row in reader]
