"""Which algorithms a scan computes and which of a list's entries decide: a real server on port
0 with a real database, lists imported and changed through the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from index.hashes import Algorithm
from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.cli.main import app as cli
from scanner.pipeline import HashingConfig, HashMode, hash_content
from scanner.rpc.convert import ALGORITHM_TO_PB
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.conftest import Running

CAMERA = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()
runner = CliRunner()


def _cli(running: Running, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli, [*args, "--database-url", running.app.settings.resolved_database_url])
    assert result.exit_code == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def _scan(running: Running, content: bytes, url: str) -> pb.ScanResponse:
    request = pb.ScanRequest(request_id=url, customer_id="shop", url=url, content=content)
    response: pb.ScanResponse = running.stub.Scan(request, timeout=30)
    return response


def test_a_sha1_list_blocks_through_scan(running: Running, tmp_path: Path) -> None:
    listed = tmp_path / "iwf.sha1"
    listed.write_text(f"{hashlib.sha1(CAMERA).hexdigest()} iwf-1\n")
    _cli(running, "lists", "import", str(listed), "--list", "iwf", "--format", "sha1")
    running.app.sync_lists()

    answer = _scan(running, CAMERA, "https://shop.example/camera.png")
    assert (answer.verdict, answer.outcome) == (pb.VERDICT_BLOCK, pb.OUTCOME_SCANNED), answer
    assert [(m.list, m.algorithm) for m in answer.matches] == [("iwf", pb.ALGORITHM_SHA1)]
    [recorded] = running.app.store.matches()
    assert recorded.verdict == "block" and recorded.hashes["sha1"] == hashlib.sha1(CAMERA).hexdigest()


def test_dhash_entries_decide_only_when_the_list_says_so(running: Running) -> None:
    exact = HashingConfig(mode=HashMode.EXACT, dihedral=False, deborder=False)
    dhash = hash_content(CAMERA, [Algorithm.DHASH], exact).get(Algorithm.DHASH)
    assert dhash is not None
    running.app.store.import_entries("flat", [NewEntry(dhash, "d-1")])
    running.app.sync_lists()
    assert "1 dhash (not deciding)" in _cli(running, "lists", "list")

    before = _scan(running, CAMERA, "https://shop.example/before.png")
    assert before.verdict == pb.VERDICT_ALLOW and not before.matches and before.match_id == 0
    # Nothing decides on dHash, so the scan does not even compute it.
    assert pb.ALGORITHM_DHASH not in {h.algorithm for h in before.hashes}
    given = pb.Hash(algorithm=pb.ALGORITHM_DHASH, hex=dhash.hex)
    assert not running.stub.Match(pb.MatchRequest(hashes=[given]), timeout=10).matches

    out = _cli(running, "lists", "policy", "flat", "--decide", "pdq,phash,md5,sha1,dhash")
    assert "decides on pdq, phash, dhash, md5, sha1" in out
    running.app.sync_lists()  # what a running server's list poll does
    after = _scan(running, CAMERA, "https://shop.example/after.png")
    assert after.verdict == pb.VERDICT_BLOCK, after
    assert [(m.list, m.algorithm, m.action) for m in after.matches] == [("flat", pb.ALGORITHM_DHASH, "block")]
    assert pb.ALGORITHM_DHASH in {h.algorithm for h in after.hashes}
    assert running.stub.Match(pb.MatchRequest(hashes=[given]), timeout=10).matches
    decided = {
        json.loads(line)["name"]: json.loads(line)["decide"]
        for line in _cli(running, "lists", "list", "--json").splitlines()
    }
    assert decided["flat"] == ["pdq", "phash", "dhash", "md5", "sha1"]
    assert decided["demo"] == ["pdq", "phash", "md5", "sha1"]

    assert "unknown algorithm 'nope'" in _cli(running, "lists", "policy", "flat", "--decide", "nope", code=2)


def test_lists_built_from_images_keep_every_entry_but_decide_on_the_default_four(running: Running) -> None:
    sizes = running.app.matchers.current.sizes()["demo"]
    assert set(sizes) == set(Algorithm), "an images list carries all seven algorithms"
    answer = _scan(
        running, (DEMO_LIST / "skimage_rocket.jpg").read_bytes(), "https://shop.example/rocket.jpg"
    )
    assert answer.verdict == pb.VERDICT_BLOCK
    assert {m.algorithm for m in answer.matches} == {
        pb.ALGORITHM_PDQ,
        pb.ALGORITHM_PHASH,
        pb.ALGORITHM_MD5,
        pb.ALGORITHM_SHA1,
    }


def test_hash_with_no_algorithms_computes_every_algorithm(running: Running) -> None:
    reply = running.stub.Hash(pb.HashRequest(content=CAMERA), timeout=30)
    assert reply.outcome == pb.OUTCOME_SCANNED
    assert sorted(h.algorithm for h in reply.hashes) == sorted(ALGORITHM_TO_PB.values())
