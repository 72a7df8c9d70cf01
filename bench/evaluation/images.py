"""The image set: originals to transform, and every other distinct image as a negative.

Originals are the project's own licensed photographs (tests/data/images, licences in its
LICENSES.md), plus two of Meta's PDQ test images copied there. Negatives add the small and odd
images of the same folder (noise, a 26x28 icon, a 16-bit grey image, flat images). Each image
has a ``group``: the identity of its content. Copies of Meta's bridge photo under other names
share one group, so they are never counted as false pairs of each other.

``/work/shared/data`` (or ``--shared``), when present, adds Meta's real-world files as extra
true-pair queries: the bridge photo's rotations saved by Meta's own tools, its edited copies
(bridge-mods) and python-threatexchange's letterboxed copy. The run works without it and says
so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "data" / "images"
PDQ_REF = Path("pdq-reference") / "pdq" / "data"
PYTX_REF = (
    Path("pdq-reference") / "python-threatexchange" / "threatexchange" / "tests" / "hashing" / "resources"
)
DEFAULT_SHARED = ROOT.parent / "shared" / "data"

BRIDGE = "bridge"


@dataclass(frozen=True)
class Source:
    name: str
    path: Path
    group: str


# (file under tests/data/images, group)
ORIGINALS: tuple[tuple[str, str], ...] = (
    ("skimage_astronaut.png", "astronaut"),
    ("skimage_brick.png", "brick"),
    ("skimage_camera.png", "camera"),
    ("skimage_chelsea.png", "chelsea"),
    ("skimage_coffee.png", "coffee"),
    ("skimage_coins.png", "coins"),
    ("skimage_horse.png", "horse"),
    ("skimage_hubble_deep_field.jpg", "hubble"),
    ("skimage_page.png", "page"),
    ("skimage_rocket.jpg", "rocket"),
    ("sklearn_china.jpg", "china"),
    ("sklearn_flower.jpg", "flower"),
    ("bridge-1-original.jpg", BRIDGE),
    (str(PDQ_REF / "misc-images" / "c.png"), "pdq-c"),
    (str(PDQ_REF / "reg-test-input" / "pen-and-coaster.png"), "pen-and-coaster"),
)

# Distinct images used only as negatives (too small, too flat or too noisy to transform usefully).
NEGATIVES: tuple[tuple[str, str], ...] = (
    (str(PDQ_REF / "misc-images" / "small.jpg"), "pdq-small"),
    (str(PDQ_REF / "misc-images" / "wee.jpg"), "pdq-wee"),
    (str(PYTX_REF / "rgb.jpeg"), "pytx-rgb"),
    (str(PYTX_REF / "LA.png"), "pytx-la"),
    (str(PYTX_REF / "I16.png"), "pytx-i16"),
    (str(PYTX_REF / "_decoded_RANDOM_IMAGE_BASE64.png"), "pytx-random"),
)

# Real-world files of the bridge photo (under the shared data folder), true pairs of its group.
SHARED_BRIDGE_FILES: tuple[tuple[str, str], ...] = tuple(
    [
        (str(PDQ_REF / "reg-test-input" / "dih" / f"bridge-{n}.jpg"), "meta_dihedral")
        for n in (
            "2-rotate-90",
            "3-rotate-180",
            "4-rotate-270",
            "5-flipx",
            "6-flipy",
            "7-flip-plus-1",
            "8-flip-minus-1",
        )
    ]
    + [
        (str(PDQ_REF / "bridge-mods" / f"{n}.jpg"), "meta_bridge_mods")
        for n in (
            "blur-a-little",
            "blur-a-lot",
            "high-contrast",
            "high-saturation",
            "sharpen-a-little",
            "sharpen-a-lot",
            "shrink-a-little",
            "shrink-a-lot",
            "square-128x128",
            "square-256x256",
            "square-512x512",
        )
    ]
    + [(str(PYTX_REF / "letterboxed_sample-b.jpg"), "meta_letterboxed")]
)


def originals(names: list[str] | None = None) -> list[Source]:
    chosen = [Source(Path(f).name, IMAGES / f, g) for f, g in ORIGINALS]
    if names:
        chosen = [s for s in chosen if s.name in names or s.group in names]
    return [s for s in chosen if s.path.exists()]


def negatives() -> list[Source]:
    return [Source(Path(f).name, IMAGES / f, g) for f, g in NEGATIVES if (IMAGES / f).exists()]


def shared_files(shared: Path) -> list[tuple[Source, str]]:
    """(file, family) pairs of the shared folder's bridge files that exist."""
    found = []
    for relative, family in SHARED_BRIDGE_FILES:
        path = shared / relative
        if path.exists():
            found.append((Source(path.name, path, BRIDGE), family))
    return found
