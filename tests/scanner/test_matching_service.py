"""Matching policy end to end: a real gRPC server on port 0, a real database (SQLite and
PostgreSQL), lists changed through the CLI and followed the way a running server follows them."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from PIL import Image, ImageFilter, ImageOps
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from index.hashes import Algorithm, Hash
from index.matcher import Query
from reporting.store import NewEntry
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.app import App, build_app
from scanner.cli.main import app as cli
from scanner.pipeline import HashingConfig, HashMode, hash_content
from scanner.settings import load_settings
from tests.scanner.conftest import Running

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
runner = CliRunner()


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Running]:
    """A server with no lists yet; flood protection holds an entry at 3 distinct contents and
    3 times its peers."""
    settings = load_settings(
        port=0,
        data_dir=tmp_path / "var",
        database_url=database_url,
        threads=2,
        flood_min_distinct=3,
        flood_factor=3,
    )
    app = build_app(settings)
    app.server.start()
    address = f"127.0.0.1:{app.server.port}"
    channel = grpc.insecure_channel(address)
    try:
        yield Running(app, channel, pb_grpc.ScannerStub(channel), address)
    finally:
        channel.close()
        app.server.drain(grace_seconds=5)
        app.store.engine.dispose()


def _image(name: str) -> Image.Image:
    return Image.open(IMAGES / name).convert("RGB")


def _encode(image: Image.Image, kind: str = "JPEG", quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **({"quality": quality} if kind == "JPEG" else {}))
    return out.getvalue()


def _listed(
    image: Image.Image, algorithms: tuple[Algorithm, ...] = (Algorithm.PDQ, Algorithm.PHASH)
) -> list[Hash]:
    outcome = hash_content(
        _encode(image, "PNG"), algorithms, HashingConfig(mode=HashMode.EXACT, dihedral=False)
    )
    return list(outcome.hashes)


def _import(app: App, list_name: str, entries: dict[str, list[Hash]]) -> dict[str, int]:
    """Import and return each external id's PDQ entry id."""
    app.store.import_entries(
        list_name, [NewEntry(h, external_id) for external_id, hashes in entries.items() for h in hashes]
    )
    app.reload_lists()
    held = app.matchers.current
    ids: dict[str, int] = {}
    for config in held.configs().values():
        if config.name != list_name:
            continue
        for external_id, hashes in entries.items():
            pdq = next(h for h in hashes if h.algorithm is Algorithm.PDQ)
            [hit] = [h for h in held.search([Query(pdq)]) if h.list_name == list_name and h.distance == 0]
            ids[external_id] = hit.entry_id
    return ids


def _scan(running: Running, content: bytes, url: str = "https://site.example/a.jpg") -> pb.ScanResponse:
    request = pb.ScanRequest(request_id="r", customer_id="cust-1", url=url, content=content)
    response: pb.ScanResponse = running.stub.Scan(request, timeout=30)
    return response


def _cli(running: Running, *args: str) -> str:
    result = runner.invoke(cli, [*args, "--database-url", running.app.settings.resolved_database_url])
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def test_rotated_mirrored_and_letterboxed_copies_are_blocked_and_say_how(
    served: Running, tmp_path: Path
) -> None:
    chelsea, coffee = _image("skimage_chelsea.png"), _image("skimage_coffee.png")
    _import(served.app, "known", {"chelsea": _listed(chelsea), "coffee": _listed(coffee)})

    turned = _scan(served, _encode(chelsea.rotate(90, expand=True)), "https://site.example/turned.jpg")
    assert turned.verdict == pb.VERDICT_BLOCK, turned
    pdq = [m for m in turned.matches if m.algorithm == pb.ALGORITHM_PDQ]
    assert [(m.list, m.variant, m.action) for m in pdq] == [("known", "rot270", "block")]
    assert "rotated 90° counter-clockwise" in turned.reason

    mirrored = _scan(served, _encode(ImageOps.mirror(coffee)), "https://site.example/mirror.jpg")
    assert mirrored.verdict == pb.VERDICT_BLOCK
    assert {m.variant for m in mirrored.matches} == {"flip_horizontal"}

    boxed = _scan(
        served, _encode(ImageOps.pad(chelsea, (640, 640), color="black")), "https://site.example/box.jpg"
    )
    assert boxed.verdict == pb.VERDICT_BLOCK, boxed
    assert "deborder" in {m.variant for m in boxed.matches if m.algorithm == pb.ALGORITHM_PDQ}
    assert "after border removal" in boxed.reason

    recorded = {m.url: m for m in served.app.store.matches()}
    assert {h.variant for h in recorded["https://site.example/turned.jpg"].hits} == {"rot270"}
    assert recorded["https://site.example/box.jpg"].verdict == "block"
    out = _cli(served, "matches", "list")
    assert "rot270" in out and "deborder" in out
    turned_file = tmp_path / "turned.jpg"
    turned_file.write_bytes(_encode(chelsea.rotate(90, expand=True)))
    result = runner.invoke(cli, ["scan", "--server", served.address, "--json", str(turned_file)])
    assert result.exit_code == 0, result.stderr
    assert {m.get("variant") for m in json.loads(result.stdout)["matches"]} == {"rot270"}
    # A plain scan of an unlisted image still answers ALLOW with nothing recorded.
    other = _scan(served, _encode(_image("skimage_astronaut.png")))
    assert other.verdict == pb.VERDICT_ALLOW and not other.matches and other.match_id == 0


def test_review_band_allows_records_and_queues(served: Running) -> None:
    coffee = _image("skimage_coffee.png")
    _import(served.app, "tight", {"coffee": _listed(coffee, (Algorithm.PDQ,))})
    edited = _encode(coffee.filter(ImageFilter.GaussianBlur(2)).resize((300, 200)), quality=30)
    pdq = hash_content(edited).get(Algorithm.PDQ)
    entry = _listed(coffee, (Algorithm.PDQ,))[0]
    assert pdq is not None
    distance = pdq.distance(entry)
    assert distance >= 2
    assert _scan(served, edited).verdict == pb.VERDICT_BLOCK  # at the default threshold, 31

    out = _cli(
        served,
        "lists",
        "policy",
        "tight",
        "--threshold",
        f"pdq={distance - 1}",
        "--review",
        f"pdq={distance + 4}",
    )
    assert f"review band pdq<={distance + 4}" in out
    served.app.sync_lists()  # what a running server's list poll does
    queued = _scan(served, edited, "https://site.example/band.jpg")
    assert queued.verdict == pb.VERDICT_ALLOW and queued.queued_for_review and queued.match_id > 0
    assert [(m.action, m.threshold) for m in queued.matches] == [("review_band", distance - 1)]
    assert "queued for review" in queued.reason
    [recorded] = [m for m in served.app.store.matches() if m.id == queued.match_id]
    assert recorded.verdict == "review"
    [status] = served.app.store.block_status("cust-1", ["https://site.example/band.jpg"])
    assert status.state == "none"

    # Two algorithms required: a PDQ-only list can then only queue.
    _cli(served, "lists", "policy", "tight", "--threshold", "pdq=31", "--combine", "at_least_two")
    served.app.sync_lists()
    two = _scan(served, edited, "https://site.example/two.jpg")
    assert two.verdict == pb.VERDICT_ALLOW and [m.action for m in two.matches] == ["review_combine"]
    lists = json.loads(_cli(served, "lists", "list", "--json"))
    assert lists["combine"] == "at_least_two" and lists["review"] == {"pdq": distance + 4}


def test_a_negative_list_suppresses_perceptual_hits_but_not_exact_ones(
    served: Running, tmp_path: Path
) -> None:
    chelsea = _image("skimage_chelsea.png")
    exact_file = _encode(chelsea, quality=80)
    md5 = hash_content(exact_file, (Algorithm.MD5,)).get(Algorithm.MD5)
    assert md5 is not None
    _import(served.app, "known", {"chelsea": [*_listed(chelsea), md5]})
    copy = _encode(chelsea, quality=70)
    assert _scan(served, copy).verdict == pb.VERDICT_BLOCK

    benign = tmp_path / "benign"
    benign.mkdir()
    (benign / "chelsea.png").write_bytes(_encode(chelsea, "PNG"))
    assert "created (negative)" in _cli(served, "lists", "create", "benign", "--kind", "negative")
    _cli(served, "lists", "import", str(benign), "--list", "benign", "--format", "images")
    assert "benign [negative]" in _cli(served, "lists", "list")
    served.app.sync_lists()

    before = REGISTRY.get_sample_value("hashwatch_hits_suppressed_total") or 0.0
    allowed = _scan(served, copy, "https://site.example/benign.jpg")
    assert allowed.verdict == pb.VERDICT_ALLOW and allowed.match_id == 0 and not allowed.matches
    assert "suppressed by negative list benign" in allowed.reason
    assert (REGISTRY.get_sample_value("hashwatch_hits_suppressed_total") or 0.0) >= before + 2
    assert all(m.url != "https://site.example/benign.jpg" for m in served.app.store.matches())

    exact = _scan(served, exact_file, "https://site.example/exact.jpg")
    assert exact.verdict == pb.VERDICT_BLOCK
    assert [(m.list, m.algorithm) for m in exact.matches] == [("known", pb.ALGORITHM_MD5)]


def test_a_flooding_entry_is_held_until_released(served: Running) -> None:
    images = {name: _image(f"skimage_{name}.png") for name in ("chelsea", "coffee", "astronaut")}
    ids = _import(served.app, "flood", {name: _listed(image) for name, image in images.items()})
    for peer in ("coffee", "astronaut"):
        assert _scan(served, _encode(images[peer], quality=85)).verdict == pb.VERDICT_BLOCK
    chelsea = images["chelsea"]
    verdicts = [_scan(served, _encode(chelsea, quality=q)) for q in (90, 85, 90, 80)]
    # Three distinct contents (the repeat counts once): the third is held, and so is the next.
    assert [v.verdict for v in verdicts] == [pb.VERDICT_BLOCK] * 3 + [pb.VERDICT_ALLOW]
    held = verdicts[3]
    assert held.queued_for_review and {m.action for m in held.matches} == {"review_held"}
    assert "flood protection" in held.reason

    # Its PDQ and its pHash entry each matched three distinct contents: both are held.
    entries = {m.entry_id for m in held.matches}
    assert len(entries) == 2 and ids["chelsea"] in entries
    assert f"flood entry {ids['chelsea']} chelsea: held" in _cli(served, "lists", "holds")
    assert "2 held by flood protection" in _cli(served, "lists", "list")
    served.app.sync_lists()  # the stored hold now comes with the list's config
    assert ids["chelsea"] in served.app.matchers.current.configs()[_list_id(served, "flood")].held
    assert _scan(served, _encode(chelsea, quality=75)).verdict == pb.VERDICT_ALLOW
    assert _scan(served, _encode(images["coffee"], quality=70)).verdict == pb.VERDICT_BLOCK

    for entry in sorted(entries):
        assert "released" in _cli(served, "lists", "release", "--entry", str(entry))
    served.app.sync_lists()
    released = _scan(served, _encode(chelsea, quality=65))
    assert released.verdict == pb.VERDICT_BLOCK and {m.action for m in released.matches} == {"block"}
    assert "no entries held" in _cli(served, "lists", "holds")
    result = runner.invoke(
        cli,
        [
            "lists",
            "release",
            "--entry",
            str(ids["chelsea"]),
            "--database-url",
            served.app.settings.resolved_database_url,
        ],
    )
    assert result.exit_code == 2 and "is not held" in result.stderr


def _list_id(running: Running, name: str) -> int:
    return next(c.list_id for c in running.app.matchers.current.configs().values() if c.name == name)


def test_low_quality_entries_are_flagged_at_import(served: Running, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "flat.png").write_bytes(_encode(Image.new("RGB", (200, 200), (120, 120, 120)), "PNG"))
    (folder / "chelsea.png").write_bytes(_encode(_image("skimage_chelsea.png"), "PNG"))
    result = runner.invoke(
        cli,
        [
            *("lists", "import", str(folder), "--list", "mixed", "--format", "images"),
            *("--database-url", served.app.settings.resolved_database_url),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "1 flagged low quality" in result.stdout
    assert "flat.png: PDQ quality" in result.stderr
    assert "(1 low quality)" in _cli(served, "lists", "list")
    [info] = served.app.store.lists()
    assert info.low_quality == 1
