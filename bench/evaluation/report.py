"""Tables from scored pairs: recall per family, distance percentiles, false pairs, dihedral gap."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .columns import COLUMNS, Score
from .transforms import EDIT_FAMILIES

INVERSE = {"rot90": "rot270", "rot270": "rot90"}


@dataclass(frozen=True)
class TruePair:
    family: str
    transform: str
    image: str
    scores: dict[str, Score]
    border_found: bool


@dataclass(frozen=True)
class FalsePairs:
    """Per column: how many pairs, how many matched, and the distances (distance columns)."""

    pairs: int
    matches: dict[str, int]
    distances: dict[str, list[int]]
    # The false matches themselves, for the record: (column, query, entry, distance).
    examples: list[tuple[str, str, str, int | None]]


def table(header: Sequence[str], rows: Iterable[Sequence[str]], markdown: bool) -> str:
    rows = [list(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), *(fmt.format(*r) for r in rows)])


def _pct(hits: int, total: int) -> str:
    return f"{100 * hits / total:.1f}" if total else "-"


def _groups(pairs: Sequence[TruePair]) -> list[tuple[str, list[TruePair]]]:
    by_family: dict[str, list[TruePair]] = defaultdict(list)
    for p in pairs:
        by_family[p.family].append(p)
    out = list(by_family.items())
    edits = [p for p in pairs if p.family in EDIT_FAMILIES]
    if edits:
        out.append(("**" + "+".join(EDIT_FAMILIES) + "**", edits))
    return out


def recall_table(pairs: Sequence[TruePair], markdown: bool) -> str:
    header = ["family", "n", *(c.name for c in COLUMNS)]
    rows = []
    for family, members in _groups(pairs):
        row = [family, str(len(members))]
        row += [_pct(sum(p.scores[c.name].matched for p in members), len(members)) for c in COLUMNS]
        rows.append(row)
    return table(header, rows, markdown)


def transform_table(pairs: Sequence[TruePair], families: Sequence[str], markdown: bool) -> str:
    columns = ["PDQ", "pHash", "PDQ dih pixel", "PDQ deborder", "policy DCT", "policy pixel"]
    by_transform: dict[tuple[str, str], list[TruePair]] = defaultdict(list)
    for p in pairs:
        if p.family in families:
            by_transform[p.family, p.transform].append(p)
    header = [
        "family",
        "transform",
        "n",
        *(f"{c} %" for c in columns),
        "PDQ p50",
        "pHash p50",
        "border found",
    ]
    rows = []
    for (family, name), members in by_transform.items():
        row = [family, name, str(len(members))]
        row += [_pct(sum(p.scores[c].matched for p in members), len(members)) for c in columns]
        for c in ("PDQ", "pHash"):
            row.append(f"{np.median([p.scores[c].distance or 0 for p in members]):.0f}")
        row.append(f"{sum(p.border_found for p in members)}/{len(members)}")
        rows.append(row)
    return table(header, rows, markdown)


def distance_table(pairs: Sequence[TruePair], markdown: bool) -> str:
    columns = [
        c.name for c in COLUMNS if c.name in ("PDQ", "pHash", "PDQ dih DCT", "PDQ dih pixel", "PDQ deborder")
    ]
    header = ["family", *(f"{c} p50/p90/max" for c in columns)]
    rows = []
    for family, members in _groups(pairs):
        row = [family]
        for c in columns:
            d = np.array([p.scores[c].distance for p in members], dtype=float)
            row.append(f"{np.percentile(d, 50):.0f}/{np.percentile(d, 90):.0f}/{d.max():.0f}")
        rows.append(row)
    return table(header, rows, markdown)


def dihedral_table(pairs: Sequence[TruePair], markdown: bool) -> str:
    """Per operation: how far each kind of variant lands and whether the expected one matched."""
    header = [
        "family",
        "operation",
        "n",
        "DCT p50/p90/max",
        "pixel p50/p90/max",
        "DCT right variant",
        "pixel right variant",
    ]
    rows = []
    by_op: dict[tuple[str, str], list[TruePair]] = defaultdict(list)
    for p in pairs:
        if p.family.startswith("dihedral"):
            by_op[p.family, p.transform].append(p)
    for (family, op), members in by_op.items():
        expected = INVERSE.get(op, op)
        row = [family, op, str(len(members))]
        for c in ("PDQ dih DCT", "PDQ dih pixel"):
            d = np.array([p.scores[c].distance for p in members], dtype=float)
            row.append(f"{np.percentile(d, 50):.0f}/{np.percentile(d, 90):.0f}/{d.max():.0f}")
        for c in ("PDQ dih DCT", "PDQ dih pixel"):
            right = sum(p.scores[c].variant == expected for p in members)
            row.append(f"{right}/{len(members)}")
        rows.append(row)
    return table(header, rows, markdown)


def false_table(results: Sequence[tuple[str, FalsePairs]], markdown: bool) -> str:
    header = ["pairs", "column", "n pairs", "false matches", "min", "p1", "p5"]
    rows = []
    for label, fp in results:
        for c in COLUMNS:
            d = fp.distances.get(c.name)
            stats = (
                [f"{min(d)}", f"{np.percentile(d, 1):.0f}", f"{np.percentile(d, 5):.0f}"]
                if d
                else ["-", "-", "-"]
            )
            rows.append([label, c.name, str(fp.pairs), str(fp.matches[c.name]), *stats])
    return table(header, rows, markdown)


# (label, families, target) for the done-when list; None: measured and reported only.
TARGETS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("re-encode / resize / colour", EDIT_FAMILIES, 99.0),
    ("rotations and flips (lossless and JPEG)", ("dihedral", "dihedral_jpeg"), 95.0),
    ("letterboxed / padded", ("pad",), 90.0),
    ("crops 5-10%", ("crop",), None),
    ("small rotations 2-10 degrees", ("small_rotation",), None),
    ("overlays", ("overlay",), None),
)


def targets_table(
    pairs: Sequence[TruePair],
    distinct: FalsePairs,
    edited: FalsePairs,
    markdown: bool,
    column: str = "service",
) -> str:
    header = ["target", "n", f"{column} recall %", "plain PDQ %", "pHash %", "target", "met"]
    rows = []
    for label, families, goal in TARGETS:
        members = [p for p in pairs if p.family in families]
        if not members:
            continue
        recall = 100 * sum(p.scores[column].matched for p in members) / len(members)
        rows.append(
            [
                label,
                str(len(members)),
                f"{recall:.1f}",
                _pct(sum(p.scores["PDQ"].matched for p in members), len(members)),
                _pct(sum(p.scores["pHash"].matched for p in members), len(members)),
                f">= {goal:.0f}%" if goal is not None else "measured",
                ("yes" if recall >= goal else "NO") if goal is not None else "-",
            ]
        )
    for label, fp in (
        ("false positives, distinct images", distinct),
        ("false positives, edited copies vs strangers", edited),
    ):
        count = fp.matches[column]
        rows.append(
            [
                label,
                str(fp.pairs),
                str(count),
                str(fp.matches["PDQ"]),
                str(fp.matches["pHash"]),
                "0",
                "yes" if count == 0 else "NO",
            ]
        )
    return table(header, rows, markdown)
