"""What a rescan did, counted as it goes; printed at the end (text, or JSON with ``--json``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from scanner.rescan.work import ItemResult

MAX_ERROR_SAMPLES = 20
# Outcomes that are failures of ours rather than properties of the content.
ERROR_OUTCOMES = frozenset({"internal_error", "timeout"})


@dataclass
class Summary:
    source: str = ""
    engine: str = ""
    files: int = 0
    scanned: int = 0
    # Not scanned, by reason: unreadable, unsupported_format, corrupt, too_large, empty, ...
    skipped: dict[str, int] = field(default_factory=dict)
    # Items that matched a list, of which ``recorded`` were new and ``already_recorded`` were not.
    matched: int = 0
    recorded: int = 0
    already_recorded: int = 0
    errors: int = 0
    error_samples: list[dict[str, str]] = field(default_factory=list)
    resumed_at: int = 0
    seconds: float = 0.0

    # The counters travel in the checkpoint, so a resumed run's summary covers the whole source.
    _COUNTERS = ("scanned", "skipped", "matched", "recorded", "already_recorded", "errors", "error_samples")

    def counters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._COUNTERS}

    def restore(self, counters: dict[str, Any]) -> None:
        for name in self._COUNTERS:
            if name in counters:
                setattr(self, name, counters[name])

    def count(self, result: ItemResult) -> None:
        if result.hashed:
            self.scanned += 1
        elif result.outcome in ERROR_OUTCOMES:
            self.error(result.item.location, result.reason or result.outcome)
        else:
            self.skipped[result.outcome] = self.skipped.get(result.outcome, 0) + 1

    def error(self, where: str, reason: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append({"location": where, "reason": reason})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def to_text(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        lines = [
            f"rescan of {self.source} ({self.engine}) in {self.seconds:.1f} s",
            f"  files            {self.files}"
            + (f" (resumed at {self.resumed_at})" if self.resumed_at else ""),
            f"  scanned          {self.scanned}",
            f"  skipped          {skipped}" + (f" ({reasons})" if reasons else ""),
            f"  matches          {self.matched}"
            f" ({self.recorded} new, {self.already_recorded} already recorded)",
            f"  errors           {self.errors}",
        ]
        lines.extend(f"    {e['location']}: {e['reason']}" for e in self.error_samples)
        return "\n".join(lines)
