"""A list's action policy: what a match on it sets in motion."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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
    partner: str = "cybertipline"
    # Keep the matched bytes, encrypted, for the preservation period.
    preserve: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionPolicy:
        unknown = set(data) - {"block", "notify", "report", "partner", "preserve"}
        if unknown:
            raise ValueError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        return cls(
            block=bool(data.get("block", True)),
            notify=bool(data.get("notify", True)),
            report=ReportWhen(data.get("report", ReportWhen.NEVER)),
            partner=str(data.get("partner", "cybertipline")),
            preserve=bool(data.get("preserve", True)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "notify": self.notify,
            "report": str(self.report),
            "partner": self.partner,
            "preserve": self.preserve,
        }

    @staticmethod
    def strongest(policies: Iterable[ActionPolicy]) -> ActionPolicy:
        """A scan that hits several lists does what the most demanding of them asks."""
        chosen = list(policies)
        if not chosen:
            return ActionPolicy()
        report = max((p.report for p in chosen), key=_RANK.__getitem__)
        partner = next((p.partner for p in chosen if p.report is report), "cybertipline")
        return ActionPolicy(
            block=any(p.block for p in chosen),
            notify=any(p.notify for p in chosen),
            report=report,
            partner=partner,
            preserve=any(p.preserve for p in chosen),
        )
