"""The scan's policy step: from the hits the matcher found to what is blocked, queued or ignored.

``decide`` is the one place the per-list matching policy is applied (docs/matching.md, "Matching
policy"); the engine calls it on every scan with hits and ``bench/eval_matching.py`` calls it to
measure the service's own rule. In order:

1. **Negative lists.** A hit within threshold on a ``negative`` list (known-benign hashes)
   suppresses every *perceptual* hit on the other lists for that content. Exact MD5/SHA-1 hits
   are never suppressed: an exact hit is the listed file itself, and a benign look-alike cannot
   make it benign.
2. **Review band.** A hit beyond its list's threshold but within the list's review band is
   queued for an analyst; it never blocks.
3. **Combination.** A list with ``combine = any`` blocks on one hit within threshold; with
   ``at_least_two`` it needs hits from two distinct algorithms (an exact MD5/SHA-1 hit counts
   as enough alone); hits that fall short of that are queued for review.
4. **Held entries** (flood protection, ``scanner.flood``): a hit on a held entry is queued for
   review instead of blocking.
5. **The list's action policy** (``ListConfig.block``, from ``hashwatch lists policy
   --block/--no-block``): a hit that would block, on a list whose policy does not block, is
   recorded (and notified, reported, preserved as the policy says) without blocking.

Only a list's deciding algorithms (``ListConfig.decide``) are searched at all (``Matcher``).

BLOCK when any hit blocks; otherwise ALLOW, with the match recorded when a hit was kept. Each
hit kept says why (``action``), and is recorded with the match: the match's verdict, the block
and the notification follow from those actions (``recorded_verdict``; ``reporting.store``), so
the edge's answer and what the match sets in motion cannot disagree.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from index.hashes import Algorithm
from index.matcher import Combine, ListConfig, ListKind, MatchHit

EXACT = frozenset(a for a in Algorithm if a.is_exact)


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
class Decision:
    # Hits to record, each with what it does (``MatchHit.action``); empty when nothing matched.
    kept: tuple[MatchHit, ...] = ()
    # Hits on negative lists, and the perceptual hits they suppressed (not recorded).
    negative: tuple[MatchHit, ...] = ()
    suppressed: tuple[MatchHit, ...] = ()

    @property
    def block(self) -> bool:
        return any(h.action == Action.BLOCK for h in self.kept)

    @property
    def review(self) -> bool:
        """Kept hits, all only queued for an analyst."""
        return bool(self.kept) and recorded_verdict(h.action for h in self.kept) is RecordedVerdict.REVIEW

    def reason(self) -> str:
        """What to tell the caller about this decision ("" for a plain block or no match)."""
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
    hits: Sequence[MatchHit],
    configs: Mapping[int, ListConfig],
    held: Callable[[MatchHit], bool] = lambda hit: False,
) -> Decision:
    """Apply each list's policy to ``hits`` (``Matcher.search``'s, nearest first). ``held``
    says whether flood protection holds a hit's entry (``configs`` already carry the holds
    stored in the database)."""
    if not hits:
        return Decision()
    hits = _one_per_entry(hits)
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
            elif (config is not None and hit.entry_id in config.held) or held(hit):
                action = Action.REVIEW_HELD
            elif config is not None and not config.block:
                action = Action.RECORD
            else:
                action = Action.BLOCK
            kept.append(dataclasses.replace(hit, action=str(action)))
    return Decision(tuple(kept), negative, tuple(suppressed))


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
