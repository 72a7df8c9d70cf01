"""The ways of matching a query against a list entry that the harness compares, one column each.

A list entry is the original's plain hashes (lists hold one hash per algorithm, built in exact
mode). A query is everything the service could compute from the uploaded file. Each column
says how far the query is from the entry and whether that is a match at the default
thresholds; PDQ only counts when the query's PDQ quality is at least 50, as in the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from index.hashes import PDQ_MIN_QUALITY, Algorithm, Hash
from index.matcher import DEFAULT_THRESHOLDS, ListConfig, Matcher, Query
from scanner.decision import decide
from scanner.hashing.pdq import DIHEDRAL_NAMES
from scanner.queries import scan_queries

from .signatures import Signature

PDQ_T = DEFAULT_THRESHOLDS[Algorithm.PDQ]
PHASH_T = DEFAULT_THRESHOLDS[Algorithm.PHASH]


@dataclass(frozen=True)
class Score:
    distance: int | None  # None for policy columns, which combine several distances
    matched: bool
    variant: str = ""  # which dihedral variant gave the distance


@dataclass(frozen=True)
class Column:
    name: str
    rule: str
    score: Callable[[Signature, Signature], Score]


def _trusted(query: Signature) -> bool:
    return query.quality >= PDQ_MIN_QUALITY


def _plain(algorithm: Algorithm) -> Callable[[Signature, Signature], Score]:
    threshold = DEFAULT_THRESHOLDS[algorithm]

    def score(entry: Signature, query: Signature) -> Score:
        d = query.plain[algorithm].distance(entry.plain[algorithm])
        ok = d <= threshold and (algorithm is not Algorithm.PDQ or _trusted(query))
        return Score(d, ok)

    return score


def _nearest(variants: tuple[Hash, ...], target: Hash) -> tuple[int, str]:
    distances = [v.distance(target) for v in variants]
    best = min(range(len(distances)), key=distances.__getitem__)
    return distances[best], DIHEDRAL_NAMES[best]


def _dihedral(pick: Callable[[Signature], tuple[Hash, ...]]) -> Callable[[Signature, Signature], Score]:
    def score(entry: Signature, query: Signature) -> Score:
        d, name = _nearest(pick(query), entry.plain[Algorithm.PDQ])
        return Score(d, d <= PDQ_T and _trusted(query), name)

    return score


def _debordered(algorithm: Algorithm) -> Callable[[Signature, Signature], Score]:
    """The whole image's hash, or the de-bordered copy's when a border was found: the nearer."""
    plain = _plain(algorithm)

    def score(entry: Signature, query: Signature) -> Score:
        whole = plain(entry, query)
        if query.debordered is None:
            return whole
        inner = plain(entry, query.debordered)
        assert whole.distance is not None and inner.distance is not None
        return inner if inner.distance < whole.distance else whole

    return score


def _policy(*, pixel_variants: bool) -> Callable[[Signature, Signature], Score]:
    def variants(s: Signature) -> tuple[Hash, ...]:
        # (The pipeline no longer computes DCT-domain variants of the de-bordered copy: its
        # plain PDQ stands in for them.)
        return s.pixel_variants if pixel_variants else (s.dct_variants or (s.plain[Algorithm.PDQ],))

    def one(entry: Signature, query: Signature) -> bool:
        pdq_ok = _trusted(query) and _nearest(variants(query), entry.plain[Algorithm.PDQ])[0] <= PDQ_T
        phash_ok = query.plain[Algorithm.PHASH].distance(entry.plain[Algorithm.PHASH]) <= PHASH_T
        return pdq_ok or phash_ok

    def score(entry: Signature, query: Signature) -> Score:
        ok = one(entry, query) or (query.debordered is not None and one(entry, query.debordered))
        return Score(None, ok)

    return score


class _Service:
    """The service's own rule: ``Matcher.search`` of ``scanner.queries.scan_queries`` then
    ``scanner.decision.decide``, exactly as ``ScanEngine.decide`` runs them, against a list
    holding the entry's PDQ, pHash, dHash, aHash and wHash hashes, as ``--format images`` builds
    it, at the default list settings (deciding on PDQ and pHash of those, thresholds PDQ 31,
    pHash 10; combine any; no review band). BLOCK counts as a match."""

    def __init__(self) -> None:
        self._matchers: dict[int, tuple[Matcher, dict[int, ListConfig]]] = {}
        self._queries: dict[int, list[Query]] = {}

    def __call__(self, entry: Signature, query: Signature) -> Score:
        matcher, configs = self._matcher(entry)
        queries = self._queries.get(id(query))
        if queries is None:
            assert query.outcome is not None
            queries = self._queries[id(query)] = scan_queries(query.outcome)
        return Score(None, decide(matcher.search(queries), configs).block)

    def _matcher(self, entry: Signature) -> tuple[Matcher, dict[int, ListConfig]]:
        held = self._matchers.get(id(entry))
        if held is None:
            config = ListConfig(1, "list")
            values = list(entry.plain.values())
            matcher = Matcher([(config, list(enumerate(values, start=1)))])
            held = self._matchers[id(entry)] = (matcher, matcher.configs())
        return held


SERVICE = "service"

COLUMNS: tuple[Column, ...] = (
    Column("PDQ", f"PDQ <= {PDQ_T}, quality >= {PDQ_MIN_QUALITY}", _plain(Algorithm.PDQ)),
    Column("pHash", f"pHash <= {PHASH_T}", _plain(Algorithm.PHASH)),
    Column("dHash", f"dHash <= {DEFAULT_THRESHOLDS[Algorithm.DHASH]}", _plain(Algorithm.DHASH)),
    Column("aHash", f"aHash <= {DEFAULT_THRESHOLDS[Algorithm.AHASH]}", _plain(Algorithm.AHASH)),
    Column("wHash", f"wHash <= {DEFAULT_THRESHOLDS[Algorithm.WHASH]}", _plain(Algorithm.WHASH)),
    Column(
        "PDQ dih DCT",
        f"nearest of the query's 8 DCT-domain PDQ variants (pdqhash.compute_dihedral's way) <= {PDQ_T}",
        _dihedral(lambda s: s.dct_variants),
    ),
    Column(
        "PDQ dih pixel",
        f"nearest of the query's 8 pixel-domain PDQ variants (the pipeline's, pdq_rotations) <= {PDQ_T}",
        _dihedral(lambda s: s.pixel_variants),
    ),
    Column(
        "PDQ deborder",
        f"nearer of the whole image's and the de-bordered copy's PDQ <= {PDQ_T}",
        _debordered(Algorithm.PDQ),
    ),
    Column(
        "pHash deborder",
        f"nearer of the whole image's and the de-bordered copy's pHash <= {PHASH_T}",
        _debordered(Algorithm.PHASH),
    ),
    Column(
        "policy DCT",
        "combined: match if, for the whole image or (when a border was found) its de-bordered copy, "
        f"the nearest DCT-domain PDQ variant <= {PDQ_T} (quality >= {PDQ_MIN_QUALITY}) or pHash <= {PHASH_T}",
        _policy(pixel_variants=False),
    ),
    Column(
        "policy pixel",
        "combined: the same with the pixel-domain PDQ variants",
        _policy(pixel_variants=True),
    ),
    Column(
        SERVICE,
        "the service's matching (ScanEngine.decide: PDQ's 8 variants and the de-bordered copy's "
        "hashes at quality >= 50, pHash, scanner.decision.decide) at the default list settings",
        _Service(),
    ),
)
