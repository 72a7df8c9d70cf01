"""Hashing in worker processes: the answers are the in-process answers, and the processes work
at the same time."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

from PIL import Image

from index.hashes import Algorithm
from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.hashpool import wire
from scanner.hashpool.pool import HashPool
from scanner.pipeline import HashingConfig, HashMode, hash_content
from tests.conftest import DATA
from tests.scanner.hashpool.pooled import eventually, pooled_server, sample, slow_png

IMAGES = DATA


def _animation() -> bytes:
    frames = [Image.linear_gradient("L").rotate(angle).convert("P") for angle in (0, 90, 180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


def _letterboxed(path: Path) -> bytes:
    # A photograph inside black bars: the pipeline hashes the inner picture too (``debordered``).
    with Image.open(path) as image:
        inner = image.convert("RGB")
    framed = Image.new("RGB", (inner.width, inner.height * 2), "black")
    framed.paste(inner, (0, inner.height // 2))
    buffer = io.BytesIO()
    framed.save(buffer, "PNG")
    return buffer.getvalue()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_pooled_answers_are_the_in_process_answers() -> None:
    photos = sorted((IMAGES / "images").glob("*.*g"))[:6]
    contents = [p.read_bytes() for p in photos]
    contents += [
        _letterboxed(photos[0]),
        _animation(),
        (IMAGES / "hostile" / "truncated-tail.gif").read_bytes(),
        b"",
        b"not an image",
    ]
    configs = (
        HashingConfig(),
        HashingConfig(mode=HashMode.EXACT),
        HashingConfig(dihedral=False, deborder=False),
    )
    for config in configs:
        assert wire.decode_config(wire.encode_config(config)) == config
        pool = HashPool(1, config)
        pool.start()
        try:
            for content in contents:
                expected = hash_content(content, tuple(Algorithm), config)
                got = pool.hash(content, tuple(Algorithm))
                assert got == expected
                # Equality of hashes ignores quality and frame: compare those too.
                assert [(h.quality, h.frame) for h in got.hashes] == [
                    (h.quality, h.frame) for h in expected.hashes
                ]
                assert [h.frame for h in got.dihedral] == [h.frame for h in expected.dihedral]
            # The letterboxed copy crossed the pipe with its inner picture's hashes.
            assert pool.hash(contents[len(photos)], tuple(Algorithm)).debordered or not config.deborder
        finally:
            pool.close()


def test_every_process_hashes_at_the_same_time() -> None:
    with pooled_server(2, queue_size=8) as pooled:
        pids = pooled.pool.pids()
        cpu = {pid: _cpu_seconds(pid) for pid in pids}
        hashed = sample("hashwatch_stage_seconds_count", stage="hash")
        answers: list[pb.ScanResponse] = []
        both_busy = threading.Event()

        def watch() -> None:
            if eventually(lambda: len(pooled.pool.busy_pids()) == 2, 60):
                both_busy.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        futures = [
            pooled.stub.Scan.future(pb.ScanRequest(request_id=str(n), content=slow_png()), timeout=120)
            for n in range(4)
        ]
        answers = [f.result() for f in futures]
        watcher.join()
        assert both_busy.is_set()
        assert [a.outcome for a in answers] == [pb.OUTCOME_LOW_QUALITY] * 4
        assert pooled.pool.pids() == pids
        # Each process did a share of the work (each image is over a second of CPU).
        for pid in pids:
            assert _cpu_seconds(pid) - cpu[pid] > 0.5
        assert sample("hashwatch_stage_seconds_count", stage="hash") == hashed + 4
