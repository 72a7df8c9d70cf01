"""Exact hashes of any bytes are matched whatever decoding makes of them: a listed video, PDF,
random file, corrupt or oversized image, or one whose hashing process overran its time limit,
is blocked by its MD5 or SHA-1, and the outcome still says what happened to decoding. A real
server on port 0 with a real database, hashing in process and in worker processes."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.cli.main import app as cli
from scanner.settings import load_settings
from tests.conftest import DEMO_UNLISTED
from tests.scanner.hashpool.pooled import slow_png

runner = CliRunner()
_RNG = random.Random(15)
# A small MP4: an ftyp box, then media data.
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x04\x08mdat" + _RNG.randbytes(1024)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RANDOM = _RNG.randbytes(4096)
# A PNG cut short: an accepted signature whose data cannot be decoded.
TRUNCATED = (DEMO_UNLISTED / "skimage_camera.png").read_bytes()[:5000]
MAX_BYTES = 256 * 1024  # above the slow PNG used for the time limit (~120 KB)
OVERSIZED = _RNG.randbytes(MAX_BYTES + 1)

# (content, the list that holds its exact hash, the decode outcome)
LISTED = {
    "mp4": (MP4, "md5", pb.OUTCOME_UNSUPPORTED_FORMAT),
    "pdf": (PDF, "sha1", pb.OUTCOME_UNSUPPORTED_FORMAT),
    "random": (RANDOM, "sha1", pb.OUTCOME_UNSUPPORTED_FORMAT),
    "truncated": (TRUNCATED, "md5", pb.OUTCOME_CORRUPT),
    "oversized": (OVERSIZED, "md5", pb.OUTCOME_TOO_LARGE),
}


@dataclass
class Served:
    app: App
    stub: pb_grpc.ScannerStub
    workers: int


@pytest.fixture(params=[0, 1], ids=["in-process", "hash-workers"])
def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Served]:
    workers = int(request.param)
    settings = load_settings(
        port=0,
        data_dir=tmp_path / "var",
        database_url=database_url,
        threads=2,
        max_image_bytes=MAX_BYTES,
        hash_workers=workers,
        # Long enough for every file here but the one made to overrun it.
        hash_timeout_seconds=0.5 if workers else 2.0,
    )
    app = build_app(settings)
    app.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield Served(app, pb_grpc.ScannerStub(channel), workers)
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


def _import(served: Served, tmp_path: Path, algorithm: str, contents: dict[str, bytes]) -> None:
    """Import ``contents``' ``algorithm`` digests as the list of that name, through the CLI."""
    path = tmp_path / f"list.{algorithm}"
    path.write_text(
        "".join(f"{hashlib.new(algorithm, c).hexdigest()} {name}\n" for name, c in contents.items())
    )
    result = runner.invoke(
        cli,
        [
            *("lists", "import", str(path), "--list", f"{algorithm}-list", "--format", algorithm),
            *("--database-url", served.app.settings.resolved_database_url),
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr


def _scan(served: Served, name: str, content: bytes) -> pb.ScanResponse:
    request = pb.ScanRequest(
        request_id=name, customer_id="shop", url=f"https://shop.example/{name}", content=content
    )
    response: pb.ScanResponse = served.stub.Scan(request, timeout=60)
    return response


def test_listed_bytes_are_blocked_whatever_decoding_made_of_them(served: Served, tmp_path: Path) -> None:
    cases = dict(LISTED)
    if served.workers:
        # The hashing process is killed at its time limit; the serving process hashes the bytes.
        cases["overran"] = (slow_png(), "md5", pb.OUTCOME_TIMEOUT)
    for algorithm in ("md5", "sha1"):
        _import(served, tmp_path, algorithm, {n: c for n, (c, kind, _) in cases.items() if kind == algorithm})
    served.app.reload_lists()

    for name, (content, kind, outcome) in cases.items():
        answer = _scan(served, name, content)
        assert answer.outcome == outcome, (name, answer)
        assert answer.verdict == pb.VERDICT_BLOCK, (name, answer)
        assert answer.match_id > 0 and answer.reason, name
        digests = {h.algorithm: h.hex for h in answer.hashes}
        assert digests == {
            pb.ALGORITHM_MD5: hashlib.md5(content).hexdigest(),
            pb.ALGORITHM_SHA1: hashlib.sha1(content).hexdigest(),
        }, name
        hit_algorithm = pb.ALGORITHM_MD5 if kind == "md5" else pb.ALGORITHM_SHA1
        assert [(m.list, m.algorithm, m.distance, m.action) for m in answer.matches] == [
            (f"{kind}-list", hit_algorithm, 0, "block")
        ], name
    recorded = {m.url.rsplit("/", 1)[1]: m for m in served.app.store.matches(limit=100)}
    assert set(recorded) == set(cases)
    assert all(m.verdict == "block" and m.hashes["md5"] for m in recorded.values())

    # An unlisted file that does not decode is still answered ALLOW, with its exact hashes.
    other = _scan(served, "other", b"%PDF-1.7 some other document")
    assert (other.verdict, other.outcome, other.match_id) == (
        pb.VERDICT_ALLOW,
        pb.OUTCOME_UNSUPPORTED_FORMAT,
        0,
    )
    assert {h.algorithm for h in other.hashes} == {pb.ALGORITHM_MD5, pb.ALGORITHM_SHA1}
    # An empty body has nothing to hash.
    empty = _scan(served, "empty", b"")
    assert (empty.verdict, empty.outcome, list(empty.hashes)) == (pb.VERDICT_ALLOW, pb.OUTCOME_EMPTY, [])
