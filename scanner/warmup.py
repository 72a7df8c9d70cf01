"""Paying for first use before the first request: ``Server.start(warm=True)`` turns health
SERVING only after this has run.

A cold process pays on its first scan for numba compiling the index kernels for each array
layout (or loading them from its on-disk cache), and for the first calls of the hashing code
(decoder plug-ins, FFT plans, wavelets). On the 2-core test machine that was 3.7 s with an empty
numba cache and 0.3-0.4 s with a full one, against about 7 ms for a warm scan.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING

import numpy as np
import structlog
from PIL import Image

from scanner.errors import HashwatchError
from scanner.hashing import registry
from scanner.pipeline import HashingConfig, hash_content

if TYPE_CHECKING:
    from scanner.engine import ScanEngine

log = structlog.get_logger(__name__)


def samples() -> list[bytes]:
    """Small synthetic images that take every decoding path a scan can: a JPEG (decoded at
    reduced scale in fast mode) with a border (the de-bordered copy and its PDQ variants), a
    PNG, and a two-frame GIF (the animation path). Textured, so PDQ's quality passes and its
    dihedral queries are asked too."""
    rng = np.random.default_rng(17)
    texture = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    picture = Image.fromarray(texture).resize((192, 192), Image.Resampling.BILINEAR)
    bordered = Image.new("RGB", (256, 256), "black")
    bordered.paste(picture, (32, 32))
    out = []
    for image, kind, extra in (
        (bordered, "JPEG", {"quality": 90}),
        (picture, "PNG", {}),
        (picture, "GIF", {"save_all": True, "append_images": [picture.rotate(90)]}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, kind, **extra)
        out.append(buffer.getvalue())
    return out


def warm_hashing(config: HashingConfig) -> None:
    """Hash every sample with every registered algorithm in this process."""
    for content in samples():
        hash_content(content, registry.algorithms(), config)


def warm_engine(engine: ScanEngine) -> None:
    """Compile and run every search kernel (each index kind and array layout), then hash each
    sample with every algorithm the way the engine hashes (in this process, or through a hashing
    process, each of which warmed itself before it said it was ready) and search the lists in
    use with the result: the path of a scan, without its recording, so nothing is written."""
    # Here, not at the top: hashing processes import this module and must not load numba and
    # the index for nothing.
    from index.factory import warm_up as warm_indexes
    from scanner.queries import scan_queries

    started = time.perf_counter()
    warm_indexes()
    for content in samples():
        try:
            outcome = engine.hash(content, registry.algorithms())
        except HashwatchError as exc:
            # The port is open while this runs: clients that do not wait for SERVING may have
            # filled the hashing queue. They are being served, so the processes are warm.
            log.warning("warm-up hash skipped", error=str(exc))
            continue
        engine.matchers.current.search(scan_queries(outcome))
        engine.matchers.current.match(outcome.hashes)
    log.info("warmed up", seconds=round(time.perf_counter() - started, 3))
