"""Parsing hash-list files. A file imports whole or not at all: the first malformed line stops
the import with its line number, unless the caller asks to skip bad lines, in which case every
skipped line is reported.

Formats: one hash per line, named after the algorithm (``TEXT_FORMATS``: pdq, phash, md5, sha1),
and CSV with a header (``csv``) as ThreatExchange and HMA exchange signals:
``signal_type,signal_value,...`` or ``hash,...``. Which algorithms list files carry, and under
which names, is each algorithm's spec (``index.algorithms``, ``signal_types``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from index.hashes import Algorithm, Hash, InvalidHash
from index.text import refused_character

TEXT_FORMATS = {str(a): a for a in Algorithm if a.spec.signal_types}


# What a list entry's external id may be: ``list_entries.external_id`` holds 200 characters.
MAX_EXTERNAL_ID = 200


class ListFormatError(ValueError):
    def __init__(self, source: str, line_number: int, message: str) -> None:
        super().__init__(f"{source}:{line_number}: {message}")
        self.source = source
        self.line_number = line_number


@dataclass(frozen=True)
class ParsedEntry:
    hash: Hash
    external_id: str = ""
    line_number: int = 0


@dataclass
class ParseReport:
    entries: list[ParsedEntry] = field(default_factory=list)
    skipped: list[ListFormatError] = field(default_factory=list)


def parse_hash_lines(
    lines: Iterable[str], algorithm: Algorithm, source: str = "<input>", skip_bad: bool = False
) -> ParseReport:
    """One hash per line, optionally followed by whitespace and an external id. Blank lines
    and lines starting with ``#`` are ignored."""
    report = ParseReport()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        hex_value, _, rest = text.partition(" ") if " " in text else text.partition("\t")
        try:
            value = Hash.from_hex(algorithm, hex_value)
            external_id = _external_id(rest.strip())
        except (InvalidHash, _BadRow) as exc:
            error = ListFormatError(source, number, str(exc))
            if not skip_bad:
                raise error from None
            report.skipped.append(error)
            continue
        report.entries.append(ParsedEntry(value, external_id, number))
    return report


def read_lines(path: str) -> Iterator[str]:
    # newline="": a quoted CSV field may hold a line break (the csv module counts lines itself).
    # utf-8-sig: spreadsheet exports often start with a byte order mark.
    with open(path, encoding="utf-8-sig", errors="strict", newline="") as handle:
        yield from handle


# CSV header names, lower-cased, by meaning; the first one present is used.
HASH_COLUMNS = ("signal_value", "hash", "hash_value", "value")
TYPE_COLUMNS = ("signal_type", "hash_type", "algorithm", "type")
ID_COLUMNS = ("external_id", "signal_id", "id", "content_id")
# PDQ quality (0-100) as the list maker's hasher printed it: below 50 the entry is flagged. Read for
# the algorithms that have a quality (``AlgorithmSpec.quality_floor``), ignored for the others.
QUALITY_COLUMNS = ("quality", "pdq_quality", "signal_quality")
# signal_type values (ThreatExchange and HMA names included) to algorithms.
SIGNAL_TYPES = {name: a for a in Algorithm for name in a.spec.signal_types}
# Without a type column the algorithm follows from the number of hex digits (16 are read as pHash,
# the only 64-bit hash lists carry in practice; name the type when they are not).
_BY_LENGTH = {a.bits // 4: a for a in Algorithm if a.spec.by_length}


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def parse_csv(lines: Iterable[str], source: str = "<input>", skip_bad: bool = False) -> ParseReport:
    """A CSV list whose first row (after blank and ``#`` lines) is a header naming the hash
    column (``signal_value`` or ``hash``), optionally the type (``signal_type``) and an id
    (``external_id``, ``signal_id`` or ``id``) and a PDQ quality (``quality``). Other columns are
    ignored. Line numbers are the file's, counting the header."""
    report = ParseReport()
    # strict: a stray quote is an error with a line number, not a field that swallows the file.
    reader = csv.reader(_csv_lines(lines), strict=True)
    header: list[str] | None = None
    hash_at = type_at = id_at = quality_at = None
    for row in _rows(reader, source):
        number = reader.line_num
        if not any(field.strip() for field in row):
            continue
        if header is None:
            header = [field.strip().lower().lstrip("\ufeff") for field in row]
            hash_at = _column(header, HASH_COLUMNS)
            type_at, id_at = _column(header, TYPE_COLUMNS), _column(header, ID_COLUMNS)
            quality_at = _column(header, QUALITY_COLUMNS)
            if hash_at is None:
                # A header is never skipped: without it no line can be read.
                raise ListFormatError(
                    source,
                    number,
                    f"expected a CSV header naming the hash column ({' or '.join(HASH_COLUMNS[:2])}), "
                    f"got {','.join(row)[:80]!r}",
                )
            continue
        assert hash_at is not None
        try:
            report.entries.append(_csv_entry(row, number, hash_at, type_at, id_at, quality_at))
        except (InvalidHash, _BadRow) as exc:
            error = ListFormatError(source, number, str(exc))
            if not skip_bad:
                raise error from None
            report.skipped.append(error)
    if header is None:
        raise ListFormatError(source, 1, "empty CSV: no header")
    return report


class _BadRow(ValueError):
    pass


def _external_id(value: str) -> str:
    refused = refused_character(value)
    if refused is not None:
        raise _BadRow(f"the external id contains {refused}")
    if len(value) > MAX_EXTERNAL_ID:
        raise _BadRow(f"the external id is longer than {MAX_EXTERNAL_ID} characters")
    return value


def _rows(reader: Any, source: str) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:  # a NUL byte, say: the rest of the file cannot be trusted
        raise ListFormatError(source, int(reader.line_num), f"not CSV: {exc}") from None


def _csv_entry(
    row: list[str],
    number: int,
    hash_at: int,
    type_at: int | None,
    id_at: int | None,
    quality_at: int | None = None,
) -> ParsedEntry:
    if hash_at >= len(row):
        raise _BadRow(f"{len(row)} fields; the hash is field {hash_at + 1}")
    value = row[hash_at].strip()
    if type_at is not None:
        kind = row[type_at].strip().lower() if type_at < len(row) else ""
        algorithm = SIGNAL_TYPES.get(kind)
        if algorithm is None:
            raise _BadRow(f"unsupported signal type {kind[:40]!r} (one of: {', '.join(SIGNAL_TYPES)})")
    else:
        found = _BY_LENGTH.get(len(value))
        if found is None:
            raise _BadRow(
                f"{len(value)} characters is no hash length this service knows; add a signal_type column"
            )
        algorithm = found
    external_id = _external_id(row[id_at].strip() if id_at is not None and id_at < len(row) else "")
    quality = None
    text = row[quality_at].strip() if quality_at is not None and quality_at < len(row) else ""
    if text and algorithm.spec.quality_floor is not None:
        if not text.isdigit() or int(text) > 100:
            raise _BadRow(f"quality {text[:20]!r} is not a whole number from 0 to 100")
        quality = int(text)
    return ParsedEntry(Hash.from_hex(algorithm, value, quality), external_id, number)


def _csv_lines(lines: Iterable[str]) -> Iterator[str]:
    # Comment lines before the header, as in the line formats (the csv module has no comments).
    header_seen = False
    for line in lines:
        if not header_seen:
            text = line.strip()
            if not text or text.startswith("#"):
                yield "\n"
                continue
            header_seen = True
        yield line
