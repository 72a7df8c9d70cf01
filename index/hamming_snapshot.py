"""A ``HammingIndex`` in a snapshot file (``index.snapshot``): the arrays of each segment and of
its tombstones (``<k>.<name>``, ``<k>.dead``, the delta last) and the sidecar fields that
rebuild the index around them. Segments restore by their kind; ``register_segment_kind`` adds
one (``index.exact`` does).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from index import snapshot
from index.hamming_state import Part, State
from index.mih import MihSegment
from index.segments import Segment

if TYPE_CHECKING:
    from index.hamming import HammingIndex

Index = TypeVar("Index", bound="HammingIndex")

_SEGMENT_KINDS: dict[str, type[Segment]] = {"flat": Segment, "mih": MihSegment}


def register_segment_kind(kind: type[Segment]) -> None:
    """Let ``HammingIndex.load`` restore segments of another kind."""
    _SEGMENT_KINDS[kind.kind] = kind


def write(path: Path | str, index: HammingIndex, state: State, source_version: str | None) -> dict[str, Any]:
    """Write ``state`` of ``index``; returns the sidecar."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    segments: list[dict[str, Any]] = []
    for k, part in enumerate((*state.parts, Part(state.delta))):
        segment = part.segment
        for name, array in segment.arrays().items():
            arrays[f"{k}.{name}"] = array
        arrays[f"{k}.dead"] = np.array(sorted(part.dead), dtype=np.int64)
        segments.append({"kind": segment.kind, "rows": len(segment), "params": segment.params()})
    meta = {
        "index": index.kind,
        "algorithm": index.algorithm,
        "bits": index.bits,
        "count": state.count,
        "source_version": source_version,
        "structure": index.structure,
        "flat_below": index.flat_below,
        "delta_limit": index.delta_limit,
        "segments": segments,
    }
    return snapshot.write(path, meta, arrays)


def read(
    cls: type[Index], path: Path | str, *, verify: bool, mmap: bool, algorithm: str | None
) -> tuple[Index, State]:
    """An empty ``cls`` index with the snapshot's settings, and the state to give it.
    ``SnapshotError`` if the snapshot is corrupt, partial, of another kind, or (given
    ``algorithm``) of another algorithm."""
    meta, arrays = snapshot.read(path, verify=verify, mmap=mmap)
    try:
        if meta["index"] != cls.kind:
            raise snapshot.SnapshotError(f"snapshot {path} holds a {meta['index']} index, not {cls.kind}")
        if algorithm is not None and meta["algorithm"] != algorithm:
            raise snapshot.SnapshotError(
                f"snapshot {path} is for {meta['algorithm']} hashes, not {algorithm}"
            )
        index = cls(
            int(meta["bits"]),
            structure=meta["structure"],
            flat_below=int(meta["flat_below"]),
            delta_limit=int(meta["delta_limit"]),
            algorithm=meta["algorithm"],
        )
        parts: list[Part] = []
        for k, spec in enumerate(meta["segments"]):
            names = {
                name.split(".", 1)[1]: a for name, a in arrays.items() if name.split(".", 1)[0] == str(k)
            }
            segment_cls = _SEGMENT_KINDS[spec["kind"]]
            segment = segment_cls.restore(index.bits, names, dict(spec["params"]))
            if len(segment) != int(spec["rows"]):
                raise snapshot.SnapshotError(f"snapshot {path}: segment {k} has the wrong row count")
            parts.append(Part(segment, frozenset(names["dead"].tolist())))
    except snapshot.SnapshotError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise snapshot.SnapshotError(f"snapshot {path} is inconsistent: {exc!r}") from exc
    if not parts:  # the delta is always the last segment: a sidecar without one is not ours
        raise snapshot.SnapshotError(f"snapshot {path} lists no segments")
    delta = parts.pop()
    state = State(tuple(parts), delta.segment)
    if state.count != int(meta["count"]):
        raise snapshot.SnapshotError(f"snapshot {path}: entry count does not match the sidecar")
    return index, state
