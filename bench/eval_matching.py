"""Matching quality: how many edited copies of a listed image match, and how many strangers do.

For each original (the project's own photographs, shrunk to ``--size`` px on the long side and
hashed in exact mode from a lossless PNG, as a list maker would) and each transform of the
suite (bench/evaluation/transforms.py: re-encoding, resizing, colour, filters, squash, crops,
padding and letterboxes, overlays, small rotations, the 7 rotations/flips lossless and as
JPEG), the transformed file is hashed the way the service hashes an upload (``hash_content``,
FAST mode unless ``--mode exact``) and compared with the original's list entry in every way in
``bench/evaluation/columns.py``: each algorithm alone, PDQ's dihedral variants (the pipeline's
DCT-domain ones and the pixel-domain ones of ``scanner.hashing.pdq_rotations``), the de-bordered
copy (``scanner.hashing.letterbox``), a hand-written combined policy, and the service's own
matching (column ``service``: ``scanner.queries`` + ``Matcher.search`` + ``scanner.decision``,
the code ``ScanEngine.decide`` runs). The issue's done-when figures are printed for ``service``.

False pairs: every query (each original as uploaded, each transform, every negative image)
against every list entry of a different image (group), at the default thresholds.

Run single core:  taskset -c 1 .venv/bin/python bench/eval_matching.py [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from evaluation import images  # noqa: E402
from evaluation.columns import COLUMNS, SERVICE  # noqa: E402
from evaluation.dihedral_gap import gap_table  # noqa: E402
from evaluation.report import (  # noqa: E402
    FalsePairs,
    TruePair,
    dihedral_table,
    distance_table,
    false_table,
    recall_table,
    targets_table,
    transform_table,
)
from evaluation.signatures import Signature, Unhashable, signature  # noqa: E402
from evaluation.transforms import FAMILIES, encode, normalise, suite  # noqa: E402

from scanner.pipeline import HashMode  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["fast", "exact"], default="fast", help="how queries are hashed")
    parser.add_argument("--size", type=int, default=512, help="longest side of the originals (px)")
    parser.add_argument("--images", nargs="*", help="only these originals (file or group names)")
    parser.add_argument("--families", nargs="*", choices=FAMILIES, help="only these transform families")
    parser.add_argument("--shared", type=Path, default=images.DEFAULT_SHARED, help="shared data folder")
    parser.add_argument("--no-negatives", action="store_true", help="skip the extra negative images")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    mode = HashMode(args.mode)
    markdown: bool = args.markdown
    started, load_before = time.perf_counter(), os.getloadavg()

    entries: dict[str, Signature] = {}  # group -> the list entry (exact-mode hashes of the original)
    queries: list[tuple[str, str, str, Signature]] = []  # (label, group, family, signature)
    true_pairs: list[TruePair] = []
    notes: list[str] = []

    transforms = [t for t in suite() if not args.families or t.family in args.families]
    originals = images.originals(args.images)
    normalised: list[tuple[str, Image.Image]] = []
    for source in originals:
        image = normalise(Image.open(source.path), args.size)
        normalised.append((source.name, image))
        png = encode(image, "PNG")
        entries[source.group] = signature(png, HashMode.EXACT, deborder=False)
        queries.append((f"{source.name} as is", source.group, "original", signature(png, mode)))
        for t in transforms:
            try:
                query = signature(t.run(image, source.name), mode)
            except Unhashable as exc:
                notes.append(f"{source.name} / {t.name}: not hashable ({exc})")
                continue
            queries.append((f"{source.name} / {t.name}", source.group, t.family, query))
            true_pairs.append(_true_pair(t.family, t.name, source.name, entries[source.group], query))

    if not args.no_negatives:
        for source in images.negatives():
            content = source.path.read_bytes()
            try:
                entries[source.group] = signature(content, HashMode.EXACT, deborder=False)
                queries.append((source.name, source.group, "negative", signature(content, mode)))
            except Unhashable as exc:
                notes.append(f"negative {source.name}: not hashable ({exc})")

    shared = images.shared_files(args.shared) if images.BRIDGE in entries else []
    if not shared:
        notes.append(f"no shared data at {args.shared}: Meta's real-world bridge files not measured")
    for source, family in shared:
        query = signature(source.path.read_bytes(), mode)
        queries.append((source.name, source.group, family, query))
        true_pairs.append(_true_pair(family, source.name, "bridge", entries[images.BRIDGE], query))

    distinct = _false_pairs([q for q in queries if q[2] in ("original", "negative")], entries)
    edited = _false_pairs([q for q in queries if q[2] not in ("original", "negative")], entries)
    elapsed = time.perf_counter() - started

    out = print
    heading = "###" if markdown else "=="
    out(f"{heading} Matching quality ({mode} mode, originals at <= {args.size} px)\n")
    out(
        f"{len(originals)} originals x {len(transforms)} transforms = "
        f"{sum(p.family in FAMILIES for p in true_pairs)} true pairs"
        f" (+{len(shared)} real-world files of the bridge photo); "
        f"{len(entries)} distinct images as list entries; "
        f"{elapsed:.0f} s, load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}\n"
    )
    out("Columns (default thresholds; PDQ counts only at query quality >= 50):\n")
    for c in COLUMNS:
        out(f"* **{c.name}**: {c.rule}" if markdown else f"  {c.name}: {c.rule}")
    out(f"\n{heading} Recall (% of true pairs matched) per family\n")
    out(recall_table(true_pairs, markdown))
    out(f"\n{heading} True-pair distances per family\n")
    out(distance_table(true_pairs, markdown))
    out(f"\n{heading} False pairs (different images) at the default thresholds\n")
    out(false_table([("distinct originals", distinct), ("edited copies vs other images", edited)], markdown))
    examples = distinct.examples + edited.examples
    if examples:
        out("\nFalse matches:")
        for column, label, entry_group, distance in examples[:40]:
            out(f"* {column}: {label} matched {entry_group} at {distance}")
    out(f"\n{heading} Against the issue's targets (column {SERVICE}: the service's own matching)\n")
    out(targets_table(true_pairs, distinct, edited, markdown))
    missed = [p for p in true_pairs if not p.scores[SERVICE].matched and p.family in TARGET_FAMILIES]
    out(f"\nMissed by the service in {', '.join(TARGET_FAMILIES)}: {len(missed)}")
    for p in missed:
        out(f"* {p.family} / {p.transform}: {p.image}")
    out(f"\n{heading} Dihedral: DCT-domain vs pixel-domain variants (nearest variant to the original)\n")
    out(dihedral_table(true_pairs, markdown))
    out(f"\n{heading} Dihedral gap per image: DCT-domain variant vs pdqhash of the rotated pixels (bits)\n")
    out(gap_table(normalised, markdown))
    out(f"\n{heading} Per transform\n")
    out(transform_table(true_pairs, [*FAMILIES, *{f for _, f in shared}], markdown))
    for note in notes:
        out(f"\nnote: {note}")
    return 0


# The families the issue sets recall targets for.
TARGET_FAMILIES = ("reencode", "resize", "colour", "pad", "dihedral", "dihedral_jpeg")


def _true_pair(family: str, transform: str, image: str, entry: Signature, query: Signature) -> TruePair:
    scores = {c.name: c.score(entry, query) for c in COLUMNS}
    return TruePair(family, transform, image, scores, query.debordered is not None)


def _false_pairs(queries: list[tuple[str, str, str, Signature]], entries: dict[str, Signature]) -> FalsePairs:
    matches = {c.name: 0 for c in COLUMNS}
    distances: dict[str, list[int]] = {c.name: [] for c in COLUMNS}
    examples: list[tuple[str, str, str, int | None]] = []
    pairs = 0
    for label, group, _, query in queries:
        for entry_group, entry in entries.items():
            if entry_group == group:
                continue
            pairs += 1
            for c in COLUMNS:
                score = c.score(entry, query)
                if score.distance is not None:
                    distances[c.name].append(score.distance)
                if score.matched:
                    matches[c.name] += 1
                    examples.append((c.name, label, entry_group, score.distance))
    return FalsePairs(pairs, matches, distances, examples)


if __name__ == "__main__":
    sys.exit(main())
