"""Turning a list file or a directory of images into entries to import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from index.formats import TEXT_FORMATS, ListFormatError, parse_csv, parse_hash_lines, read_lines
from index.hashes import Algorithm, Hash
from scanner.pipeline import HashingConfig, HashMode, hash_content

# csv: ThreatExchange/HMA style, with a header (see index.formats.parse_csv).
FORMATS = (*TEXT_FORMATS, "csv", "images")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Candidate:
    hash: Hash
    external_id: str


@dataclass
class Collected:
    candidates: list[Candidate] = field(default_factory=list)
    # Human-readable notes on what was skipped or doubtful, one per problem.
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def collect(path: Path, list_format: str, skip_bad: bool = False) -> Collected:
    """Read ``path`` in ``list_format``. Raises ``ListFormatError`` on the first bad line
    unless ``skip_bad``."""
    if list_format == "images":
        return _collect_images(path, skip_bad)
    if list_format == "csv":
        report = parse_csv(read_lines(str(path)), str(path), skip_bad)
    else:
        report = parse_hash_lines(read_lines(str(path)), TEXT_FORMATS[list_format], str(path), skip_bad)
    collected = Collected([Candidate(e.hash, e.external_id) for e in report.entries])
    collected.skipped = [str(e) for e in report.skipped]
    collected.warnings = [
        f"{path}:{e.line_number}: PDQ quality {e.hash.quality} is below 50; the entry is flagged low quality"
        for e in report.entries
        if not e.hash.trustworthy
    ]
    return collected


def _image_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def _collect_images(root: Path, skip_bad: bool) -> Collected:
    collected = Collected()
    # Lists are made by other organisations with the reference tools: hash them exactly.
    config = HashingConfig(mode=HashMode.EXACT)
    for path in _image_files(root):
        outcome = hash_content(path.read_bytes(), tuple(Algorithm), config)
        name = str(path.relative_to(root)) if root.is_dir() else path.name
        if not outcome.outcome.hashed:
            problem = f"{path}: {outcome.outcome.value}: {outcome.reason}"
            if not skip_bad:
                raise ListFormatError(str(path), 0, f"{outcome.outcome.value}: {outcome.reason}")
            collected.skipped.append(problem)
            continue
        for value in outcome.hashes:
            if value.frame:
                continue
            if not value.trustworthy:
                collected.warnings.append(
                    f"{path}: PDQ quality {value.quality} is below 50; its PDQ entry will not match"
                )
            collected.candidates.append(Candidate(value, name))
    return collected
