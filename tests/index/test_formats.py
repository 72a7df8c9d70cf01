from __future__ import annotations

import pytest

from index.formats import ListFormatError, parse_hash_lines
from index.hashes import Algorithm

GOOD = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_parses_hashes_comments_blank_lines_and_external_ids() -> None:
    lines = ["# a comment\n", "\n", f"{GOOD}\n", f"{GOOD.upper()}  case-42\n", f"{'0' * 64}\tNCMEC-1\n"]
    report = parse_hash_lines(lines, Algorithm.PDQ)
    assert [e.hash.hex for e in report.entries] == [GOOD, GOOD, "0" * 64]
    assert [e.external_id for e in report.entries] == ["", "case-42", "NCMEC-1"]
    assert [e.line_number for e in report.entries] == [3, 4, 5]


def test_a_malformed_line_stops_the_parse_with_its_line_number() -> None:
    lines = [GOOD, GOOD[:-2], GOOD]
    with pytest.raises(ListFormatError, match=r"list.txt:2: pdq hash must be 64 hex digits"):
        parse_hash_lines(lines, Algorithm.PDQ, source="list.txt")


def test_skip_bad_reports_every_skipped_line() -> None:
    lines = [GOOD, "nothex" * 10, GOOD[:-2], "d" * 64]
    report = parse_hash_lines(lines, Algorithm.PDQ, source="l", skip_bad=True)
    assert [e.line_number for e in report.entries] == [1, 4]
    assert [e.line_number for e in report.skipped] == [2, 3]
