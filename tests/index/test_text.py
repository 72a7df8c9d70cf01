"""The characters hashwatch refuses in stored strings (``index.text``), and list files whose
external ids hold them: refused with the file's line number, or skipped with ``--skip-bad``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.formats import ListFormatError, parse_csv, parse_hash_lines
from index.hashes import Algorithm
from index.text import not_xml_character, refused_character
from scanner.cli.main import app as cli

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
NOT_CHARACTERS = ["\ud800", "\udfff", "\ufffe", "\uffff"]


@pytest.mark.parametrize("character", C0 + C1 + NOT_CHARACTERS)
def test_single_line_values_refuse_every_control_character(character: str) -> None:
    refused = refused_character(f"https://a.example/{character}x")
    assert refused is not None and refused.position == 18
    assert f"U+{ord(character):04X}" in str(refused)


def test_free_text_keeps_tab_and_line_breaks_only() -> None:
    assert refused_character("line 1\r\nline 2\tend", multiline=True) is None
    for character in [c for c in C0 if c not in "\t\n\r"] + C1 + NOT_CHARACTERS:
        assert refused_character(f"a{character}", multiline=True) is not None


def test_ordinary_text_is_never_refused() -> None:
    text = "caf\u00e9 \u4e2d\u6587 \U0001f680 \u2028 \u00a0 \ufffd \U0010fffd"
    assert refused_character(text) is None
    assert not_xml_character(text) is None


def test_what_xml_cannot_carry_is_exactly_its_char_production() -> None:
    allowed = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE), 0x10000, 0x10FFFF}
    for code in [*range(0x20), 0x7F, 0x85, 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF, 0x10000]:
        assert (not_xml_character(chr(code)) is None) == (code in allowed), hex(code)


@pytest.mark.parametrize("external_id", ["id\x01", "a\x85b", "a\tb", "x" * 201])
def test_a_list_line_whose_external_id_cannot_be_stored_is_refused_with_its_line(external_id: str) -> None:
    lines = [f"{PDQ} ok\n", f"{PDQ} {external_id}\n", f"{'0' * 64} fine\n"]
    with pytest.raises(ListFormatError, match=r"l.txt:2: the external id"):
        parse_hash_lines(lines, Algorithm.PDQ, "l.txt")
    report = parse_hash_lines(lines, Algorithm.PDQ, "l.txt", skip_bad=True)
    assert [e.external_id for e in report.entries] == ["ok", "fine"]
    assert [e.line_number for e in report.skipped] == [2]
    csv_id = external_id.replace('"', '""')
    rows = ["hash,id\n", f"{PDQ},ok\n", f'{PDQ},"{csv_id}"\n']
    with pytest.raises(ListFormatError, match=r"l.csv:3: the external id"):
        parse_csv(rows, "l.csv")


def test_an_id_spanning_lines_in_a_csv_is_refused() -> None:
    refused = r"l.csv:3: the external id contains a control character \(U\+000A\)"
    with pytest.raises(ListFormatError, match=refused):
        parse_csv(["hash,id\n", f'{PDQ},"two\n', 'lines"\n'], "l.csv")


def test_the_cli_imports_nothing_from_a_file_with_such_an_id(tmp_path: Path, database_url: str) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text(f"{PDQ} ok\n{'0' * 64} bad\x1bid\n", encoding="utf-8")
    runner = CliRunner()
    where = ["--database-url", database_url]
    result = runner.invoke(cli, ["lists", "import", str(listed), "--list", "t", "--format", "pdq", *where])
    assert result.exit_code == 1
    assert "list.txt:2: the external id contains a control character (U+001B)" in result.stderr
    assert "nothing was imported" in result.stderr
    result = runner.invoke(
        cli, ["lists", "import", str(listed), "--list", "t", "--format", "pdq", "--skip-bad", *where]
    )
    assert result.exit_code == 0, result.output
    assert "1 added, 0 already present, 1 skipped" in result.stdout
