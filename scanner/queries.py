"""What a scan asks the matcher: the content's hashes, its PDQ rotations and its de-bordered copy.

Each query carries the form of the content it stands for (``MatchHit.variant``), so a hit says
"matched rotated 90°" or "matched after border removal". PDQ queries of a frame are asked only
when that frame's plain PDQ hash has quality >= 50 (the de-bordered copy by its own plain PDQ
quality): a flat image's PDQ matches unrelated flat images, in every orientation. The other
algorithms are asked regardless.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.hashes import Algorithm, Hash
from index.matcher import Query
from scanner.hashing.pdq import DIHEDRAL_NAMES
from scanner.pipeline import HashOutcome

DEBORDER = "deborder"


def scan_queries(outcome: HashOutcome) -> list[Query]:
    queries = _form(outcome.hashes, outcome.dihedral, "")
    queries += _form(outcome.debordered, outcome.debordered_dihedral, DEBORDER)
    return queries


def _form(hashes: Sequence[Hash], dihedral: Sequence[Hash], prefix: str) -> list[Query]:
    trusted_frames = {h.frame for h in hashes if h.algorithm is Algorithm.PDQ and h.trustworthy}
    queries = [Query(h, prefix) for h in hashes if h.trustworthy]
    for position, variant in enumerate(dihedral):
        name = DIHEDRAL_NAMES[position % len(DIHEDRAL_NAMES)]
        # The first of each 8 is the frame as it is: already asked as the plain PDQ hash.
        if position % len(DIHEDRAL_NAMES) == 0 or variant.frame not in trusted_frames:
            continue
        queries.append(Query(variant, f"{prefix}+{name}" if prefix else name))
    return queries
