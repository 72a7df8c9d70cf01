"""Parsing hash-list files. A file imports whole or not at all: the first malformed line stops
the import with its line number, unless the caller asks to skip bad lines, in which case every
skipped line is reported."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from index.hashes import Algorithm, Hash, InvalidHash

TEXT_FORMATS = {
    "pdq": Algorithm.PDQ,
    "phash": Algorithm.PHASH,
    "md5": Algorithm.MD5,
    "sha1": Algorithm.SHA1,
}


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
        except InvalidHash as exc:
            error = ListFormatError(source, number, str(exc))
            if not skip_bad:
                raise error from None
            report.skipped.append(error)
            continue
        report.entries.append(ParsedEntry(value, rest.strip(), number))
    return report


def read_lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="strict") as handle:
        yield from handle
