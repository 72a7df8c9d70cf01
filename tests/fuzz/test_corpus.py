"""The committed fuzz corpus replayed through both harnesses, and the harnesses' own checks."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from fuzz import fallback, hash_content, scan_request, seeds
from index.hashes import Algorithm, Hash
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.decision import Decision
from scanner.outcomes import Outcome
from scanner.pipeline import HashingConfig, HashMode, HashOutcome
from scanner.recording import RecordingFailed, ScanContext

CORPUS = seeds.CORPUS


def _seeds(harness: str) -> list[Path]:
    return sorted(p for p in (CORPUS / harness).iterdir() if p.is_file())


def test_the_corpus_is_small_and_documented() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2 * 1024 * 1024
    readme = (CORPUS / "README.md").read_text()
    for path in files:
        if path.name.startswith(("hostile-", "crash-")) or path.name == "README.md":
            continue
        assert f"`{path.name}`" in readme or path.parent.name == "scan_request", path


@pytest.mark.parametrize("path", _seeds("hash_content"), ids=lambda p: p.name)
def test_hash_content_seed(path: Path) -> None:
    hash_content.check(path.read_bytes())


@pytest.mark.parametrize("path", _seeds("scan_request"), ids=lambda p: p.name)
def test_scan_request_seed(path: Path) -> None:
    scan_request.check(path.read_bytes())


def test_project_made_seeds_are_what_the_generator_writes() -> None:
    for name, make in seeds.IMAGES.items():
        assert (CORPUS / "hash_content" / name).read_bytes() == make(), name
    for name, data in seeds.requests().items():
        assert (CORPUS / "scan_request" / name).read_bytes() == data, name
    for path in seeds.HOSTILE.iterdir():
        copy = CORPUS / "hash_content" / f"hostile-{path.name}"
        if path.stat().st_size <= seeds.MAX_COPIED_BYTES and path.suffix not in (".md", ".tsv"):
            assert copy.read_bytes() == path.read_bytes()


def test_the_request_harness_scans_against_a_live_list() -> None:
    listed = scan_request.run(
        scan_request.service(), (CORPUS / "scan_request" / "scan-listed.bin").read_bytes()
    )
    assert isinstance(listed, pb.ScanResponse)
    assert listed.verdict == pb.VERDICT_BLOCK and listed.match_id > 0
    unlisted = scan_request.run(
        scan_request.service(), (CORPUS / "scan_request" / "scan-unlisted.bin").read_bytes()
    )
    assert isinstance(unlisted, pb.ScanResponse) and unlisted.verdict == pb.VERDICT_ALLOW


class _FailingRecorder:
    def record_match(
        self, context: ScanContext, hashes: Sequence[Hash], decision: Decision, content: bytes
    ) -> int:
        raise RecordingFailed("the database is down")


def test_the_request_harness_flags_a_block_that_was_not_recorded() -> None:
    servicer = scan_request.service(_FailingRecorder())
    with pytest.raises(scan_request.Violation, match="without a recorded match id"):
        scan_request.run(servicer, (CORPUS / "scan_request" / "scan-listed.bin").read_bytes())


def test_the_hash_harness_flags_what_the_pipeline_hides() -> None:
    data = (CORPUS / "hash_content" / "photo.png").read_bytes()
    fast = HashingConfig(mode=HashMode.FAST)
    with pytest.raises(hash_content.Violation, match="catch-all"):
        hash_content._check_outcome(data, HashOutcome(Outcome.INTERNAL_ERROR, reason="boom"), fast)
    md5 = Hash.from_hex(Algorithm.MD5, hashlib.md5(b"other").hexdigest())
    digests = (
        Hash.from_hex(Algorithm.MD5, hashlib.md5(data).hexdigest()),
        Hash.from_hex(Algorithm.SHA1, hashlib.sha1(data).hexdigest()),
    )
    pdq = Hash.from_hex(Algorithm.PDQ, "0" * 64)
    with pytest.raises(hash_content.Violation, match="perceptual hashes were returned"):
        hash_content._check_outcome(data, HashOutcome(Outcome.CORRUPT, (pdq, *digests), "bad"), fast)
    # Content that did not decode still has its bytes' digests, and only the true ones.
    hash_content._check_outcome(data, HashOutcome(Outcome.CORRUPT, digests, "bad"), fast)
    with pytest.raises(hash_content.Violation, match="not the digest"):
        hash_content._check_outcome(data, HashOutcome(Outcome.CORRUPT, (), "bad"), fast)
    with pytest.raises(hash_content.Violation, match="not the digest"):
        hash_content._check_outcome(data, HashOutcome(Outcome.SCANNED, (md5,), "", 8, 8, "PNG", 1), fast)


def test_the_fallback_saves_the_input_that_fails(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(b"fine")
    (corpus / "bad").write_bytes(b"boom")

    def check(data: bytes) -> None:
        if b"boom" in data:
            raise ValueError("found it")

    options = [f"-artifact_prefix={tmp_path}/out/", "-max_total_time=1"]
    assert fallback.run(check, options, [str(corpus)]) == 1
    [saved] = (tmp_path / "out").iterdir()
    assert saved.read_bytes() == b"boom"
    assert fallback.run(lambda data: None, options, [str(corpus)]) == 0


def test_the_time_bound_counts_the_pixels_decoded_not_only_the_header() -> None:
    # 49 bytes a campaign made: a GIF whose logical screen (65535x255) is 16.7 MP of canvas,
    # about 3 s of CPU in exact mode, within the limits (the harness counted no pixels for it
    # when asking Pillow whether it was animated failed). Not in the corpus: a seed this slow
    # would slow every campaign down.
    gif = bytes.fromhex(
        "474946383761ffffff00002c00000000010001000008040000000000002c00000000010001000008040001040400002c3b"
    )
    limits = HashingConfig().limits
    assert hash_content._claimed_megapixels(gif, limits) == pytest.approx(16.71, abs=0.01)
    decoded = HashOutcome(Outcome.LOW_QUALITY, width=65535, height=255, format="GIF", frame_count=1)
    assert hash_content._decoded_megapixels(decoded, limits) == pytest.approx(16.71, abs=0.01)
    animation = HashOutcome(Outcome.SCANNED, width=4000, height=4000, format="GIF", frame_count=500)
    # 64 MP stepped through at most, plus 8 frames hashed.
    assert hash_content._decoded_megapixels(animation, limits) == pytest.approx(64 + 8 * 16)
