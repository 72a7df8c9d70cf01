from __future__ import annotations

import json
from pathlib import Path

import imagehash
import pytest
from PIL import Image
from typer.testing import CliRunner

from scanner.cli.main import app
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.conftest import Running

runner = CliRunner()
PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_hash_prints_one_json_object_per_file_with_every_algorithm(tmp_path: Path) -> None:
    files = [*sorted(DEMO_LIST.iterdir()), tmp_path / "missing.jpg"]
    code, out, _ = invoke("hash", "--exact", "--jobs", "2", *map(str, files))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == [str(f) for f in files]
    first = records[0]
    assert set(first) >= {"path", "pdq", "pdq_quality", "phash", "dhash", "ahash", "whash", "md5", "sha1"}
    assert first["phash"] == str(imagehash.phash(Image.open(files[0])))
    assert records[-1]["outcome"] == "unreadable"


def test_hash_selects_algorithms() -> None:
    code, out, _ = invoke("hash", "--algorithms", "md5,dhash", str(DEMO_UNLISTED / "skimage_camera.png"))
    assert code == 0
    record = json.loads(out)
    assert {k for k in record if k not in {"path", "outcome"}} == {"md5", "dhash"}


def test_hash_refuses_unknown_algorithms() -> None:
    code, _, err = invoke("hash", "--algorithms", "photodna", str(DEMO_UNLISTED / "skimage_camera.png"))
    assert code == 2
    assert "choose from" in err


def test_lists_import_and_list(tmp_path: Path) -> None:
    data = tmp_path / "var"
    pdq_file = tmp_path / "list.pdq"
    pdq_file.write_text(f"{PDQ_A} ncmec-1\n{'0' * 64}\n")
    code, out, _ = invoke(
        "lists", "import", str(pdq_file), "--list", "csam", "--format", "pdq", "--data-dir", str(data)
    )
    assert code == 0, out
    assert "2 added, 0 already present" in out
    code, out, _ = invoke(
        "lists", "import", str(pdq_file), "--list", "csam", "--format", "pdq", "--data-dir", str(data)
    )
    assert "0 added, 2 already present" in out
    code, out, _ = invoke("lists", "list", "--json", "--data-dir", str(data))
    assert json.loads(out)["entries"] == {"pdq": 2}


def test_a_malformed_line_imports_nothing_and_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "var"
    bad = tmp_path / "bad.md5"
    bad.write_text("511130d2072cc744a1fa5015bc23557a\nnot-a-hash\n")
    code, _, err = invoke(
        "lists", "import", str(bad), "--list", "l", "--format", "md5", "--data-dir", str(data)
    )
    assert code == 1
    assert f"{bad}:2:" in err
    assert "nothing was imported" in err
    code, out, _ = invoke("lists", "list", "--data-dir", str(data))
    assert "no lists" in out
    code, out, err = invoke(
        "lists", "import", str(bad), "--list", "l", "--format", "md5", "--skip-bad", "--data-dir", str(data)
    )
    assert code == 0
    assert "1 added" in out
    assert f"skipped: {bad}:2:" in err


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    code, _, err = invoke(
        "lists", "import", str(DEMO_LIST), "--list", "l", "--format", "xml", "--data-dir", str(tmp_path)
    )
    assert code == 2
    assert "unknown format" in err


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HASHWATCH_PORT", "99999")
    code, _, err = invoke("lists", "list", "--data-dir", str(tmp_path))
    assert code == 2
    assert "HASHWATCH_PORT" in err


def test_scan_and_matches_list_against_a_running_server(running: Running) -> None:
    code, out, _ = invoke(
        "scan",
        "--server",
        running.address,
        "--json",
        "--customer",
        "cust-1",
        str(DEMO_LIST / "skimage_coins.png"),
        str(DEMO_UNLISTED / "skimage_camera.png"),
    )
    assert code == 0, out
    blocked, allowed = (json.loads(line) for line in out.splitlines())
    assert blocked["verdict"] == "BLOCK"
    assert {m["algorithm"] for m in blocked["matches"]} >= {"pdq", "md5"}
    assert allowed == {
        "path": str(DEMO_UNLISTED / "skimage_camera.png"),
        "verdict": "ALLOW",
        "outcome": "SCANNED",
        "matches": [],
    }

    url = running.app.settings.resolved_database_url
    code, out, _ = invoke("matches", "list", "--json", "--database-url", url)
    [match] = [json.loads(line) for line in out.splitlines()]
    assert match["id"] == blocked["match_id"]
    assert match["customer_id"] == "cust-1"
    assert match["url"].endswith("skimage_coins.png")
    assert {h["external_id"] for h in match["hits"]} == {"skimage_coins.png"}


def test_scan_reports_an_unreachable_server() -> None:
    code, _, err = invoke(
        "scan", "--server", "127.0.0.1:1", "--timeout", "2", str(DEMO_LIST / "skimage_coins.png")
    )
    assert code == 1
    assert "UNAVAILABLE" in err
