"""The decision step: from the hits the matcher found to the whole outcome of a match.

``decide`` is the one place a match is decided, for every caller: the scan (``ScanEngine.decide``,
which rescan workers run too), the ``Match`` RPC (``ScanEngine.match``), file rescans
(``scanner.rescan.runner.run_rescan``, for each item's customer) and hash-log re-matches
(``run_stored``); ``bench/eval_matching.py`` measures the service's rule through it. It returns
the verdict for the edge, each kept hit's action and what the match sets in motion
(``MatchActions``: block, notify, report when and to which partner, preserve), all computed from
each list's action policy as its config carries it (``ListConfig.policy``). The recorder
(``reporting.matches.record``) carries the outcome out and decides nothing, so the answer the
edge got and what the match sets in motion cannot disagree. In order:

1. **The customer's settings** (``scanner.customer_policy``): the lists it chose (negative lists
   apply whatever it chose), its tightened thresholds (a hit past them falls into the review
   band); a customer whose scans are refused gets nothing decided.
2. **Flood protection** (``scanner.flood``), on the server's scans: the hits are counted, and a
   hit on a held entry is queued for review instead of blocking (step 6).
3. **Negative lists.** A hit within threshold on a ``negative`` list (known-benign hashes)
   suppresses every *perceptual* hit on the other lists for that content. Exact MD5/SHA-1 hits
   are never suppressed: an exact hit is the listed file itself, and a benign look-alike cannot
   make it benign.
4. **Review band.** A hit beyond its list's threshold but within the list's review band is
   queued for an analyst; it never blocks.
5. **Combination.** A list with ``combine = any`` blocks on one hit within threshold; with
   ``at_least_two`` it needs hits from two distinct algorithms (an exact MD5/SHA-1 hit counts
   as enough alone); hits that fall short of that are queued for review.
6. **Held entries**: a hit on an entry flood protection holds is queued for review.
7. **The list's action policy** (``hashwatch lists policy``): a hit that would block, on a list
   whose policy does not block, is recorded without blocking (``record``). What the match sets
   in motion is what the most demanding of the lists whose hits act asks (``actions_for``); a
   match only queued for review blocks nothing, tells no customer, and reports only after an
   analyst confirms it.

Only a list's deciding algorithms (``ListConfig.decide``) are searched at all (``Matcher``).

BLOCK when any hit blocks; otherwise ALLOW, with the match recorded when a hit was kept.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from index.hashes import Algorithm
from index.matcher import Combine, ListConfig, ListKind, MatchHit
from index.policy import DEFAULT_PARTNER, ActionPolicy, ReportWhen
from scanner.customer_policy import DEFAULT as EVERY_LIST
from scanner.customer_policy import CustomerPolicy

EXACT = frozenset(a for a in Algorithm if a.is_exact)
REFUSED = "customer_id names no enabled customer"


class Verdict(enum.Enum):
    """The answer to the edge."""

    ALLOW = "allow"
    BLOCK = "block"


class Action(enum.StrEnum):
    BLOCK = "block"
    # Decided as a block would be, on a list whose policy does not block: recorded, and
    # notified, reported and preserved as that policy says, not blocked.
    RECORD = "record"
    # Recorded and queued for an analyst, not blocked; the reason says which rule.
    REVIEW_BAND = "review_band"
    REVIEW_COMBINE = "review_combine"
    REVIEW_HELD = "review_held"


class RecordedVerdict(enum.StrEnum):
    """A recorded match's verdict (``matches.verdict``)."""

    BLOCK = "block"
    # Answered ALLOW; the lists' policies act on it without blocking (``Action.RECORD``).
    ALLOW = "allow"
    # Answered ALLOW; nothing acts on it until an analyst confirms it.
    REVIEW = "review"


# Hits that act (notify, report as their list's policy says) without an analyst.
ACTING = frozenset({Action.BLOCK, Action.RECORD})


def recorded_verdict(actions: Iterable[str]) -> RecordedVerdict:
    """The verdict of a match whose hits did ``actions``."""
    done = set(actions)
    if Action.BLOCK in done:
        return RecordedVerdict.BLOCK
    if Action.RECORD in done:
        return RecordedVerdict.ALLOW
    return RecordedVerdict.REVIEW


@dataclass(frozen=True)
class MatchActions:
    """What a recorded match sets in motion (``reporting.matches.actions.on_match`` does it)."""

    block: bool = False
    notify: bool = False
    # ``immediately`` files the report with the match; ``after_review`` when an analyst confirms.
    report: ReportWhen = ReportWhen.NEVER
    partner: str = DEFAULT_PARTNER
    preserve: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "report": str(self.report)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchActions:
        return cls(
            bool(data["block"]),
            bool(data["notify"]),
            ReportWhen(data["report"]),
            str(data["partner"]),
            bool(data["preserve"]),
        )


class Flood(Protocol):
    """Flood protection as the decision step uses it (``scanner.flood.FloodGuard``)."""

    def observe(
        self, hits: Iterable[MatchHit], content_key: str, configs: Mapping[int, ListConfig]
    ) -> None: ...

    def held(self, hit: MatchHit) -> bool: ...


@dataclass(frozen=True)
class Decision:
    # Hits to record, each with what it does (``MatchHit.action``); empty when nothing matched.
    kept: tuple[MatchHit, ...] = ()
    # Hits on negative lists, and the perceptual hits they suppressed (not recorded).
    negative: tuple[MatchHit, ...] = ()
    suppressed: tuple[MatchHit, ...] = ()
    # What recording the match sets in motion.
    actions: MatchActions = MatchActions()
    # The customer's scans are refused: nothing was decided.
    refused: bool = False

    @property
    def block(self) -> bool:
        return self.actions.block

    @property
    def verdict(self) -> Verdict:
        """The answer to the edge."""
        return Verdict.BLOCK if self.block else Verdict.ALLOW

    @property
    def recorded(self) -> RecordedVerdict:
        """The verdict the match is recorded with."""
        return recorded_verdict(h.action for h in self.kept)

    @property
    def review(self) -> bool:
        """Kept hits, all only queued for an analyst."""
        return bool(self.kept) and self.recorded is RecordedVerdict.REVIEW

    def reason(self) -> str:
        """What to tell the caller about this decision ("" for a plain block or no match)."""
        if self.refused:
            return REFUSED
        notes = []
        if not self.block:
            recorded = sorted({h.list_name for h in self.kept if h.action == Action.RECORD})
            if recorded:
                notes.append(
                    f"recorded, not blocked: the policy of list {', '.join(recorded)} does not block"
                )
            why = sorted({_WHY[Action(h.action)] for h in self.kept if h.action not in ACTING})
            if why:
                notes.append(f"queued for review ({', '.join(why)}): not blocked")
        if self.suppressed:
            lists = ", ".join(sorted({h.list_name for h in self.negative}))
            notes.append(f"{len(self.suppressed)} perceptual hit(s) suppressed by negative list {lists}")
        variants = sorted({describe_variant(h.variant) for h in self.kept if h.variant})
        if variants:
            notes.append("; ".join(variants))
        return "; ".join(notes)


_WHY = {
    Action.RECORD: "",
    Action.REVIEW_BAND: "distance in the review band",
    Action.REVIEW_COMBINE: "fewer algorithms agree than the list requires",
    Action.REVIEW_HELD: "entry held by flood protection",
    Action.BLOCK: "",
}

# A variant names what turns the upload back into the listed image (rot90: the upload's hash
# after a 90° counter-clockwise turn matched), so the upload itself was turned the other way.
_VARIANT_WORDS = {
    "original": "",
    "rot90": "rotated 90° clockwise",
    "rot180": "rotated 180°",
    "rot270": "rotated 90° counter-clockwise",
    "flip_vertical": "flipped vertically",
    "flip_horizontal": "flipped horizontally",
    "flip_plus1": "mirrored across the main diagonal",
    "flip_minus1": "mirrored across the anti-diagonal",
}


def describe_variant(variant: str) -> str:
    """``deborder+rot90`` -> "matched after border removal, rotated 90°"."""
    parts = variant.split("+") if variant else []
    words = []
    if "deborder" in parts:
        words.append("after border removal")
    words += [w for p in parts if (w := _VARIANT_WORDS.get(p, "" if p == "deborder" else p))]
    return "matched " + ", ".join(words) if words else "matched as uploaded"


def describe_hit(variant: str, action: str) -> str:
    """How a recorded hit matched and what it did, for analysts."""
    text = describe_variant(variant)
    if action == Action.RECORD:
        return f"{text}; recorded, not blocked (the list's policy does not block)"
    why = _WHY.get(Action(action)) if action in Action.__members__.values() else action
    return f"{text}; queued for review ({why})" if why else text


def decide(
    found: Sequence[MatchHit],
    configs: Mapping[int, ListConfig],
    customer: CustomerPolicy = EVERY_LIST,
    flood: Flood | None = None,
    content_key: str | None = None,
) -> Decision:
    """The outcome of a match on ``found`` (``Matcher.search``'s hits, nearest first, or
    ``Matcher.match``'s), for ``customer``, by the policies of the lists in ``configs`` (which
    carry the holds stored in the database). With ``flood``, its held entries are queued for
    review, and with a ``content_key`` too (a scan, which has content) the hits are counted."""
    if customer.refused:
        return Decision(refused=True)
    if not found:
        return Decision()
    if customer.lists is not None or customer.thresholds:
        negative_lists = {i for i, config in configs.items() if config.kind is ListKind.NEGATIVE}
        found = customer.filter(found, negative_lists)
    if flood is not None and content_key is not None:
        flood.observe(found, content_key, configs)
    if not found:
        return Decision()
    hits = _one_per_entry(found)
    negative = tuple(h for h in hits if _kind(configs, h) is ListKind.NEGATIVE and not h.in_review_band)
    suppressed: list[MatchHit] = []
    kept: list[MatchHit] = []
    by_list: dict[int, list[MatchHit]] = {}
    for hit in hits:
        if _kind(configs, hit) is ListKind.NEGATIVE:
            continue
        if negative and hit.algorithm not in EXACT:
            suppressed.append(hit)
            continue
        by_list.setdefault(hit.list_id, []).append(hit)
    for list_id, list_hits in by_list.items():
        config = configs.get(list_id)
        strong = [h for h in list_hits if not h.in_review_band]
        agreed = _combined(config.combine if config else Combine.ANY, strong)
        for hit in list_hits:
            if hit.in_review_band:
                action = Action.REVIEW_BAND
            elif not agreed:
                action = Action.REVIEW_COMBINE
            elif (config is not None and hit.entry_id in config.held) or (
                flood is not None and flood.held(hit)
            ):
                action = Action.REVIEW_HELD
            elif config is not None and not config.block:
                action = Action.RECORD
            else:
                action = Action.BLOCK
            kept.append(dataclasses.replace(hit, action=str(action)))
    decided = tuple(kept)
    return Decision(decided, negative, tuple(suppressed), actions_for(decided, configs))


def actions_for(kept: Sequence[MatchHit], configs: Mapping[int, ListConfig]) -> MatchActions:
    """What a match whose hits did what their ``action`` says sets in motion. It blocks when a
    hit blocks; the rest is the strongest policy of the lists whose hits act (``block`` or
    ``record``). A match only queued for review blocks nothing and tells no customer, and its
    report (if any of its lists files one) waits for an analyst's confirmation."""
    if not kept:
        return MatchActions()
    acting = sorted({h.list_id for h in kept if h.action in ACTING})
    if acting:
        chosen = ActionPolicy.strongest(_policy(configs, i) for i in acting)
        return MatchActions(
            block=any(h.action == Action.BLOCK for h in kept),
            notify=chosen.notify,
            report=chosen.report,
            partner=chosen.partner,
            preserve=chosen.preserve,
        )
    strongest = ActionPolicy.strongest(_policy(configs, i) for i in sorted({h.list_id for h in kept}))
    return MatchActions(
        report=ReportWhen.NEVER if strongest.report is ReportWhen.NEVER else ReportWhen.AFTER_REVIEW,
        partner=strongest.partner,
        preserve=strongest.preserve,
    )


def _policy(configs: Mapping[int, ListConfig], list_id: int) -> ActionPolicy:
    config = configs.get(list_id)
    return config.policy if config is not None else ActionPolicy()


def _kind(configs: Mapping[int, ListConfig], hit: MatchHit) -> ListKind:
    config = configs.get(hit.list_id)
    return config.kind if config is not None else ListKind.MATCH


def _combined(combine: Combine, strong: Sequence[MatchHit]) -> bool:
    if not strong:
        return False
    if combine is Combine.ANY or any(h.algorithm in EXACT for h in strong):
        return True
    return len({h.algorithm for h in strong}) >= 2


def _one_per_entry(hits: Sequence[MatchHit]) -> list[MatchHit]:
    """The nearest hit per (list, entry): several variants of one image (a rotation, the
    de-bordered copy) hitting one entry are one hit, the closest, and plain before variants."""
    best: dict[tuple[int, int], MatchHit] = {}
    for hit in hits:
        key = (hit.list_id, hit.entry_id)
        seen = best.get(key)
        if seen is None or (hit.distance, len(hit.variant)) < (seen.distance, len(seen.variant)):
            best[key] = hit
    return sorted(best.values(), key=lambda h: (h.distance, h.list_name, h.entry_id, len(h.variant)))
