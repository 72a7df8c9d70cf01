"""Between protobuf messages and domain values. Hashes from callers are validated here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from index.algorithms import SpecError
from index.hashes import Algorithm, Hash, InvalidHash
from index.matcher import MatchHit
from index.text import refused_character
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.decision import Decision
from scanner.engine import ScanResult, Verdict
from scanner.errors import InvalidRequest
from scanner.outcomes import Outcome
from scanner.pipeline import HashOutcome
from scanner.recording import BlockStatus, ScanContext

_Wire = TypeVar("_Wire", bound=int)


def wire_numbers(proto_enum: Iterable[tuple[str, _Wire]]) -> dict[Algorithm, _Wire]:
    """Each algorithm's number in the API's ``Algorithm`` enum, whose names are
    ``ALGORITHM_<VALUE>``: ``SpecError`` at start-up when an algorithm has no number or the
    API names one this service does not define."""
    numbers = {name.removeprefix("ALGORITHM_").lower(): number for name, number in proto_enum}
    numbers.pop("unspecified", None)
    unknown = sorted(set(numbers) - set(Algorithm))
    if unknown:
        raise SpecError(
            f"the API's Algorithm enum names {', '.join(unknown)}, which index.algorithms does not"
        )
    missing = [str(a) for a in Algorithm if a not in numbers]
    if missing:
        raise SpecError(f"the API's Algorithm enum has no number for {', '.join(missing)}")
    return {a: numbers[a] for a in Algorithm}


ALGORITHM_TO_PB = wire_numbers(pb.Algorithm.items())
PB_TO_ALGORITHM = {v: k for k, v in ALGORITHM_TO_PB.items()}

OUTCOME_TO_PB = {
    Outcome.SCANNED: pb.OUTCOME_SCANNED,
    Outcome.EMPTY: pb.OUTCOME_EMPTY,
    Outcome.UNSUPPORTED_FORMAT: pb.OUTCOME_UNSUPPORTED_FORMAT,
    Outcome.CORRUPT: pb.OUTCOME_CORRUPT,
    Outcome.TOO_LARGE: pb.OUTCOME_TOO_LARGE,
    Outcome.TOO_MANY_PIXELS: pb.OUTCOME_TOO_MANY_PIXELS,
    Outcome.LOW_QUALITY: pb.OUTCOME_LOW_QUALITY,
    Outcome.TIMEOUT: pb.OUTCOME_TIMEOUT,
    Outcome.INTERNAL_ERROR: pb.OUTCOME_INTERNAL_ERROR,
    Outcome.OVERLOADED: pb.OUTCOME_OVERLOADED,
    Outcome.UNKNOWN_CUSTOMER: pb.OUTCOME_UNKNOWN_CUSTOMER,
}
VERDICT_TO_PB = {Verdict.ALLOW: pb.VERDICT_ALLOW, Verdict.BLOCK: pb.VERDICT_BLOCK}
BLOCK_STATE_TO_PB = {
    "none": pb.BLOCK_STATE_NONE,
    "pending": pb.BLOCK_STATE_PENDING,
    "active": pb.BLOCK_STATE_ACTIVE,
    "resolved": pb.BLOCK_STATE_RESOLVED,
}


def algorithm_from_pb(value: int) -> Algorithm:
    try:
        return PB_TO_ALGORITHM[value]  # type: ignore[index]
    except KeyError:
        raise InvalidHash(f"unknown algorithm {value}") from None


def hash_to_pb(value: Hash) -> pb.Hash:
    return pb.Hash(
        algorithm=ALGORITHM_TO_PB[value.algorithm],
        hex=value.hex,
        quality=value.quality or 0,
        frame=value.frame,
    )


def hash_from_pb(message: pb.Hash) -> Hash:
    return Hash.from_hex(algorithm_from_pb(message.algorithm), message.hex)


def hit_to_pb(hit: MatchHit) -> pb.Match:
    return pb.Match(
        list=hit.list_name,
        entry_id=hit.entry_id,
        algorithm=ALGORITHM_TO_PB[hit.algorithm],
        distance=hit.distance,
        threshold=hit.threshold,
        variant=hit.variant,
        action=hit.action,
    )


# What a match record can hold of each field (reporting/models/matches.py; the URL is part of
# the blocks table's unique index, whose entries PostgreSQL caps at about 2.7 kB). A value that
# cannot be stored would fail the match's recording, and its journal replay, over and over.
CONTEXT_LIMITS = {
    "request_id": 200,
    "customer_id": 200,
    "url": 1536,
    "client_ip": 64,
    "content_type": 200,
}


def require_storable(field: str, value: str, limit: int | None = None) -> None:
    """Refuse a string that may not be stored (a control character, or what XML 1.0 cannot
    carry: ``index.text``, single-line rule) or that is longer than ``limit`` UTF-8 bytes."""
    refused = refused_character(value)
    if refused is not None:
        raise InvalidRequest(f"{field} contains {refused}", field=field)
    if limit is not None and len(value.encode()) > limit:
        raise InvalidRequest(f"{field} is longer than {limit} bytes (UTF-8)", field=field)


def context_from_pb(request: pb.ScanRequest) -> ScanContext:
    """The scan's context, refused with ``InvalidRequest`` when a field could not be recorded."""
    for name, limit in CONTEXT_LIMITS.items():
        require_storable(name, getattr(request, name), limit)
    return ScanContext(
        request_id=request.request_id,
        customer_id=request.customer_id,
        url=request.url,
        client_ip=request.client_ip,
        content_type=request.content_type,
    )


def scan_response(request_id: str, result: ScanResult) -> pb.ScanResponse:
    return pb.ScanResponse(
        request_id=request_id,
        verdict=VERDICT_TO_PB[result.verdict],
        outcome=OUTCOME_TO_PB[result.hashing.outcome],
        hashes=[hash_to_pb(h) for h in result.hashing.hashes],
        matches=[hit_to_pb(h) for h in result.hits],
        elapsed_us=result.elapsed_us,
        reason=result.reason,
        match_id=result.match_id,
        queued_for_review=result.queued_for_review,
    )


def hash_response(request_id: str, outcome: HashOutcome, elapsed_us: int) -> pb.HashResponse:
    return pb.HashResponse(
        request_id=request_id,
        outcome=OUTCOME_TO_PB[outcome.outcome],
        hashes=[hash_to_pb(h) for h in outcome.hashes],
        elapsed_us=elapsed_us,
        reason=outcome.reason,
    )


def match_response(decision: Decision) -> pb.MatchResponse:
    return pb.MatchResponse(
        matches=[hit_to_pb(h) for h in decision.kept],
        verdict=VERDICT_TO_PB[decision.verdict],
        reason=decision.reason(),
    )


def blocks_response(customer_id: str, statuses: Iterable[BlockStatus]) -> pb.BlocksResponse:
    return pb.BlocksResponse(
        blocks=[
            pb.Block(
                customer_id=customer_id,
                url=status.url,
                state=BLOCK_STATE_TO_PB[status.state],
                reason=status.reason,
                match_id=status.match_id,
                updated_unix=status.updated_unix,
            )
            for status in statuses
        ]
    )
