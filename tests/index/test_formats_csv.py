"""ThreatExchange/HMA-style CSV lists: a header names the columns; bad lines have line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.formats import ListFormatError, parse_csv, read_lines
from index.hashes import Algorithm
from scanner.cli.main import app as cli

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "511130d2072cc744a1fa5015bc23557a"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_threatexchange_columns_with_types_ids_and_quotes() -> None:
    lines = [
        "# exported 2026-11-26\n",
        "signal_type,signal_value,signal_id,tags\n",
        f'pdq,{PDQ},101,"a, b"\n',
        f"video_md5,{MD5},102,\n".replace("video_md5", "photo_md5"),
        f"SHA1,{SHA1.upper()},103\n",
        "\n",
        f'pdq,{"0" * 64},104,"multi\n',
        'line"\n',
        f"pdq,{'1' * 64},105,\n",
    ]
    report = parse_csv(lines, "l.csv")
    assert [(e.hash.algorithm, e.hash.hex, e.external_id) for e in report.entries] == [
        (Algorithm.PDQ, PDQ, "101"),
        (Algorithm.MD5, MD5, "102"),
        (Algorithm.SHA1, SHA1, "103"),
        (Algorithm.PDQ, "0" * 64, "104"),
        (Algorithm.PDQ, "1" * 64, "105"),
    ]
    # Physical line numbers of the file, the header and comment included (a quoted field
    # spanning two lines ends on the later one). An id may not span lines: test_external_ids.
    assert [e.line_number for e in report.entries] == [3, 4, 5, 8, 9]


def test_a_hash_column_alone_infers_the_algorithm_from_the_length() -> None:
    report = parse_csv(["\ufeffHash,External_ID\n", f"{PDQ},a\n", f"{MD5},b\n", f"{'a' * 16},c\n"])
    assert [(e.hash.algorithm, e.external_id) for e in report.entries] == [
        (Algorithm.PDQ, "a"),
        (Algorithm.MD5, "b"),
        (Algorithm.PHASH, "c"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"pdq,{PDQ[:-1]}\n", "pdq hash must be 64 hex digits"),
        (f"pdq,{'z' * 64}\n", "not hexadecimal"),
        (f"url,{PDQ}\n", "unsupported signal type 'url'"),
        ("pdq\n", "1 fields; the hash is field 2"),
        (f",{PDQ}\n", "unsupported signal type ''"),
    ],
)
def test_a_malformed_line_stops_the_parse_with_its_line_number(line: str, message: str) -> None:
    lines = ["signal_type,signal_value\n", f"pdq,{PDQ}\n", line, f"pdq,{PDQ}\n"]
    with pytest.raises(ListFormatError, match=rf"list.csv:3: .*{message}"):
        parse_csv(lines, "list.csv")


def test_skip_bad_reports_every_bad_line_and_keeps_the_rest() -> None:
    lines = ["hash,id\n", f"{PDQ},1\n", "abc,2\n", f"{MD5},3\n", "\x00,4\n".replace("\x00", "q" * 64)]
    report = parse_csv(lines, "l.csv", skip_bad=True)
    assert [e.external_id for e in report.entries] == ["1", "3"]
    assert [e.line_number for e in report.skipped] == [3, 5]
    assert "3 characters is no hash length" in str(report.skipped[0])


def test_a_missing_or_wrong_header_is_refused_even_with_skip_bad() -> None:
    with pytest.raises(ListFormatError, match=r"l.csv:2: expected a CSV header naming the hash column"):
        parse_csv(["# comment\n", f"{PDQ},1\n"], "l.csv", skip_bad=True)
    with pytest.raises(ListFormatError, match=r"empty CSV"):
        parse_csv(["# only a comment\n", "\n"], "l.csv")
    with pytest.raises(ListFormatError, match=r"l.csv:2: not CSV"):
        parse_csv(["hash\n", '"a"b\n', "c" * 64], "l.csv", skip_bad=True)


def test_cli_imports_a_csv_whole_or_not_at_all(tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--data-dir", str(tmp_path / "var")]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"signal_type,signal_value\npdq,{PDQ}\npdq,nope\nmd5,{MD5}\n")
    result = runner.invoke(cli, ["lists", "import", str(bad), "--list", "te", "--format", "csv", *where])
    assert result.exit_code == 1 and "bad.csv:3:" in result.stderr and "nothing was imported" in result.stderr
    assert "no lists" in runner.invoke(cli, ["lists", "list", *where]).stdout
    result = runner.invoke(
        cli, ["lists", "import", str(bad), "--list", "te", "--format", "csv", "--skip-bad", *where]
    )
    assert result.exit_code == 0, result.output
    assert "2 added, 0 already present, 1 skipped" in result.stdout
    assert "bad.csv:3:" in result.stderr
    assert "te: 1 md5, 1 pdq" in runner.invoke(cli, ["lists", "list", *where]).stdout
    assert next(iter(read_lines(str(bad)))) == "signal_type,signal_value\n"


def test_a_quality_column_is_kept_for_pdq_and_checked(tmp_path: Path) -> None:
    report = parse_csv(
        ["signal_type,signal_value,quality\n", f"pdq,{PDQ},30\n", f"md5,{MD5},30\n", f"pdq,{PDQ},\n"]
    )
    assert [e.hash.quality for e in report.entries] == [30, None, None]
    assert not report.entries[0].hash.trustworthy
    with pytest.raises(ListFormatError, match="<input>:2: quality 'high' is not a whole number"):
        parse_csv(["hash,quality\n", f"{PDQ},high\n"])
    listed = tmp_path / "list.csv"
    listed.write_text(f"hash,quality,id\n{PDQ},12,a\n{'1' * 64},90,b\n")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(
        cli, ["lists", "import", str(listed), "--list", "q", "--format", "csv", "--database-url", url]
    )
    assert result.exit_code == 0, result.stderr
    assert "2 added, 0 already present, 0 skipped, 1 flagged low quality" in result.stdout
    assert "list.csv:2: PDQ quality 12 is below 50" in result.stderr
