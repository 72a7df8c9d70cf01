"""The scan's policy step (scanner.decision) and flood protection (scanner.flood), on real
matchers built from real hashes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from index.hashes import Algorithm, Hash
from index.matcher import Combine, ListConfig, ListKind, Matcher, MatchHit, Query
from scanner.decision import Action, decide, describe_hit
from scanner.flood import FloodGuard, FloodRules
from scanner.pipeline import HashingConfig, HashMode, hash_content
from scanner.queries import scan_queries

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.open(IMAGES / "skimage_chelsea.png").convert("RGB")


def _entry(image: Image.Image, algorithm: Algorithm) -> Hash:
    found = hash_content(_png(image), [algorithm], HashingConfig(mode=HashMode.EXACT)).get(algorithm)
    assert found is not None
    return found


def _hits(matcher: Matcher, content: bytes) -> list[MatchHit]:
    return matcher.search(scan_queries(hash_content(content)))


def test_rotated_and_letterboxed_copies_are_found_and_say_how(chelsea: Image.Image) -> None:
    matcher = Matcher([(ListConfig(1, "known"), [(10, _entry(chelsea, Algorithm.PDQ))])])
    turned = _hits(matcher, _jpeg(chelsea.rotate(90, expand=True)))
    padded = _hits(matcher, _jpeg(ImageOps.pad(chelsea, (520, 520), color="black")))
    assert turned[0].variant == "rot270" and turned[0].distance <= 8
    assert padded[0].variant == "deborder" and padded[0].distance <= 8
    # Plain matching (no variants, the MatchRequest RPC's and rescans' path) misses both.
    assert not matcher.match(hash_content(_jpeg(chelsea.rotate(90, expand=True))).hashes)
    assert describe_hit("rot270", "block") == "matched rotated 90° counter-clockwise"
    assert describe_hit("deborder", "review_band").startswith("matched after border removal; queued")


def _hit(list_id: int, entry: int, algorithm: Algorithm, distance: int, threshold: int = 31) -> MatchHit:
    return MatchHit(
        list_id,
        f"list{list_id}",
        entry,
        algorithm,
        distance,
        threshold,
        Hash(algorithm, b"\0" * (algorithm.bits // 8)),
    )


def test_review_band_queues_without_blocking() -> None:
    configs = {1: ListConfig(1, "known", review={Algorithm.PDQ: 40})}
    decision = decide([_hit(1, 5, Algorithm.PDQ, 36)], configs)
    assert not decision.block and decision.review
    assert [h.action for h in decision.kept] == [Action.REVIEW_BAND]
    assert "queued for review" in decision.reason()
    assert decide([_hit(1, 5, Algorithm.PDQ, 31)], configs).block


def test_at_least_two_needs_two_algorithms_or_an_exact_hit() -> None:
    configs = {1: ListConfig(1, "known", combine=Combine.AT_LEAST_TWO)}
    one = decide([_hit(1, 5, Algorithm.PDQ, 3)], configs)
    assert one.review and one.kept[0].action == Action.REVIEW_COMBINE
    two = decide([_hit(1, 5, Algorithm.PDQ, 3), _hit(1, 6, Algorithm.PHASH, 2, 10)], configs)
    assert two.block
    # The same algorithm twice (two entries) is still one algorithm.
    assert not decide([_hit(1, 5, Algorithm.PDQ, 3), _hit(1, 6, Algorithm.PDQ, 9)], configs).block
    assert decide([_hit(1, 7, Algorithm.MD5, 0, 0)], configs).block
    # A band hit does not count as the second algorithm.
    banded = {1: ListConfig(1, "known", combine=Combine.AT_LEAST_TWO, review={Algorithm.PHASH: 14})}
    assert not decide([_hit(1, 5, Algorithm.PDQ, 3), _hit(1, 6, Algorithm.PHASH, 12, 10)], banded).block


def test_negative_list_suppresses_perceptual_hits_but_never_exact_ones() -> None:
    configs = {1: ListConfig(1, "known"), 2: ListConfig(2, "benign", kind=ListKind.NEGATIVE)}
    hits = [_hit(1, 5, Algorithm.PDQ, 4), _hit(2, 9, Algorithm.PDQ, 2)]
    decision = decide(hits, configs)
    assert not decision.kept and [h.entry_id for h in decision.suppressed] == [5]
    assert "suppressed by negative list list2" in decision.reason()
    exact = decide([*hits, _hit(1, 6, Algorithm.MD5, 0, 0)], configs)
    assert exact.block and [h.algorithm for h in exact.kept] == [Algorithm.MD5]
    # A negative hit only in its review band suppresses nothing.
    banded = {**configs, 2: ListConfig(2, "benign", kind=ListKind.NEGATIVE, review={Algorithm.PDQ: 40})}
    assert decide([_hit(1, 5, Algorithm.PDQ, 4), _hit(2, 9, Algorithm.PDQ, 35)], banded).block


def test_several_forms_hitting_one_entry_are_one_hit_the_nearest() -> None:
    plain = _hit(1, 5, Algorithm.PDQ, 20)
    turned = MatchHit(1, "list1", 5, Algorithm.PDQ, 3, 31, plain.query, "rot90")
    decision = decide([turned, plain], {1: ListConfig(1, "known")})
    assert [(h.distance, h.variant) for h in decision.kept] == [(3, "rot90")]


def test_held_entries_are_queued_not_blocked() -> None:
    configs = {1: ListConfig(1, "known", held=frozenset({5}))}
    assert decide([_hit(1, 5, Algorithm.PDQ, 3)], configs).kept[0].action == Action.REVIEW_HELD
    assert decide([_hit(1, 6, Algorithm.PDQ, 3)], configs).block


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flood_guard_holds_an_entry_far_above_its_peers_and_forgets_old_content() -> None:
    clock = Clock()
    guard = FloodGuard(FloodRules(window_seconds=60, factor=3, min_distinct=4), clock)
    configs = {1: ListConfig(1, "known", version=7)}
    for peer in (1, 2):
        guard.observe([_hit(1, peer, Algorithm.PDQ, 3)], f"peer-{peer}", configs)
    flooding = _hit(1, 9, Algorithm.PDQ, 3)
    for n in range(3):
        guard.observe([flooding], f"c{n}", configs)
        guard.observe([flooding], f"c{n}", configs)  # the same content again counts once
    assert not guard.held(flooding)
    guard.observe([flooding], "c3", configs)
    assert guard.held(flooding) and guard.counts()[1, 9] == 4
    # Stored (the next config carries it), then released (a later config does not): counting
    # starts again from nothing.
    guard.observe([], "x", {1: ListConfig(1, "known", version=8, held=frozenset({9}))})
    assert not guard.held(flooding)  # the config's hold is what decide() reads now
    guard.observe([], "x", {1: ListConfig(1, "known", version=9)})
    assert (1, 9) not in guard.counts()
    # Old content leaves the window.
    for n in range(3):
        guard.observe([flooding], f"d{n}", configs)
    clock.now += 61
    guard.observe([flooding], "d9", configs)
    assert guard.counts()[1, 9] == 1 and not guard.held(flooding)


def test_flood_guard_needs_the_minimum_even_without_peers() -> None:
    guard = FloodGuard(FloodRules(window_seconds=60, factor=2, min_distinct=3), Clock())
    hit = _hit(1, 9, Algorithm.PDQ, 3)
    guard.observe([hit], "a", {})
    guard.observe([hit], "b", {})
    assert not guard.held(hit)
    guard.observe([hit], "c", {})
    assert guard.held(hit)
    # Review-band hits are not counted.
    banded = _hit(1, 4, Algorithm.PDQ, 35)
    for key in "abcdef":
        guard.observe([banded], key, {})
    assert (1, 4) not in guard.counts()


def test_query_gate_skips_pdq_forms_of_flat_images() -> None:
    flat = Image.new("RGB", (300, 200), (90, 90, 90))
    assert not [q for q in scan_queries(hash_content(_jpeg(flat))) if q.hash.algorithm is Algorithm.PDQ]
    # Framed, the whole picture has edges; the flat picture inside the frame does not.
    outcome = hash_content(_jpeg(ImageOps.expand(flat, 40, fill="black")))
    inner = [h for h in outcome.debordered if h.algorithm is Algorithm.PDQ]
    assert inner and not inner[0].trustworthy
    queries = scan_queries(outcome)
    assert not [q for q in queries if q.hash.algorithm is Algorithm.PDQ and q.variant.startswith("deborder")]
    assert [q for q in queries if q.hash.algorithm is Algorithm.PHASH and q.variant == "deborder"]


def test_queries_name_every_variant_once(chelsea: Image.Image) -> None:
    outcome = hash_content(_jpeg(ImageOps.pad(chelsea, (520, 520), color="black")))
    variants = [q.variant for q in scan_queries(outcome) if q.hash.algorithm is Algorithm.PDQ]
    assert variants[0] == "" and "deborder" in variants and "deborder+rot90" in variants
    assert len(variants) == 16 and len(set(variants)) == 16
    assert isinstance(scan_queries(outcome)[0], Query)
