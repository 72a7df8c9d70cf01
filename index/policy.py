"""A list's action policy: which of its algorithms decide, and what a match on it sets in motion.

A value of the list's config (``index.matcher.ListConfig.policy``), so it travels with the list to
every server and rescan worker, and the scan's decision step (``scanner.decision``) computes the
whole outcome of a match from it: the verdict, each hit's action, and the block, notification,
report and preservation. Stored as JSON in ``hash_lists.policy``; ``reporting.lists.policy``
changes it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The algorithms a list decides on unless its policy says otherwise (``hashwatch lists policy
# --decide``), from each algorithm's spec: dHash and aHash match unrelated flat images at their
# thresholds (bench/, docs/matching.md), so a list built from images keeps those entries without
# deciding on them.
from index.algorithms import DEFAULT_DECIDING as DEFAULT_DECIDING
from index.hashes import Algorithm

DEFAULT_PARTNER = "cybertipline"

_KEYS = {"block", "notify", "report", "partner", "preserve", "decide"}


class ReportWhen(enum.StrEnum):
    # File the partner report as soon as the match is recorded (18 U.S.C. §2258A: "as soon as
    # reasonably possible"); for lists whose entries were verified by people, like NCMEC's.
    IMMEDIATELY = "immediately"
    # Queue the match for an analyst; the report is filed when one confirms it.
    AFTER_REVIEW = "after_review"
    NEVER = "never"


_RANK = {ReportWhen.NEVER: 0, ReportWhen.AFTER_REVIEW: 1, ReportWhen.IMMEDIATELY: 2}


@dataclass(frozen=True)
class ActionPolicy:
    block: bool = True
    notify: bool = True
    report: ReportWhen = ReportWhen.NEVER
    partner: str = DEFAULT_PARTNER
    # Keep the matched bytes, encrypted, for the preservation period.
    preserve: bool = True
    # The algorithms whose entries decide; the list's other entries are kept and never match.
    decide: frozenset[Algorithm] = DEFAULT_DECIDING

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionPolicy:
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        return cls(
            block=bool(data.get("block", True)),
            notify=bool(data.get("notify", True)),
            report=ReportWhen(data.get("report", ReportWhen.NEVER)),
            partner=str(data.get("partner", DEFAULT_PARTNER)),
            preserve=bool(data.get("preserve", True)),
            decide=parse_deciding(data.get("decide", DEFAULT_DECIDING)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "notify": self.notify,
            "report": str(self.report),
            "partner": self.partner,
            "preserve": self.preserve,
            "decide": [str(a) for a in Algorithm if a in self.decide],
        }

    @staticmethod
    def strongest(policies: Iterable[ActionPolicy]) -> ActionPolicy:
        """A scan that hits several lists does what the most demanding of them asks."""
        chosen = list(policies)
        if not chosen:
            return ActionPolicy()
        report = max((p.report for p in chosen), key=_RANK.__getitem__)
        partner = next((p.partner for p in chosen if p.report is report), DEFAULT_PARTNER)
        return ActionPolicy(
            block=any(p.block for p in chosen),
            notify=any(p.notify for p in chosen),
            report=report,
            partner=partner,
            preserve=any(p.preserve for p in chosen),
        )


def parse_deciding(names: Iterable[str] | str) -> frozenset[Algorithm]:
    """``pdq,phash,md5,sha1`` (or a list of names) as algorithms; at least one."""
    if isinstance(names, str):
        names = names.split(",")
    chosen = set()
    for name in names:
        name = str(name).strip().lower()
        if not name:
            continue
        try:
            chosen.add(Algorithm(name))
        except ValueError:
            known = ", ".join(str(a) for a in Algorithm)
            raise ValueError(f"unknown algorithm {name!r} to decide on; choose from {known}") from None
    if not chosen:
        raise ValueError("a list must decide on at least one algorithm")
    return frozenset(chosen)
