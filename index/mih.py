"""Multi-index hashing (Norouzi, Punjani & Fleet) over sorted arrays instead of hash tables.

The code's bits are split into ``m`` disjoint substrings. If a row is within ``t`` bits of the
query and ``sum(r_j + 1) > t``, then on some substring ``j`` it is within ``r_j`` bits (pigeonhole),
so probing every bucket within ``r_j`` of the query's substring on every ``j`` finds every match;
each candidate's full distance is then checked, so nothing beyond ``t`` is returned. The search
is exact for *any* threshold: a larger one only probes more buckets, and when probing would cost
more than reading every row the segment scans flat instead.

Why sorted arrays rather than FAISS's ``IndexBinaryMultiHash``:

* A bucket is a contiguous slice of ``slots`` addressed through a dense ``offsets`` table, so a
  probe is two loads, not a hash-map lookup, and each slot holds the row number and the low
  bits of its key, so a scan filters its bucket without touching the codes.
* The structure is a handful of flat arrays: a snapshot writes them as they are and a replica
  memory-maps them back in milliseconds. FAISS serialises its multi-hash maps as lists and
  rebuilds them on load (that is most of HMA's 30 s unpickle).
* Substring lengths follow the data: ``m ~ bits / log2(n)`` keeps about one row per full key,
  the regime in which MIH's probe count and candidate count balance (16 x 16-bit substrings, HMA's
  setting, leaves ~150 rows per bucket at 10 M and checks ~40 000 candidates per query).
* Bits are assigned to substrings to balance their entropy, so skewed bits (real lists have
  them) do not pile into one substring and make its buckets huge.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from index import _kernels
from index.segments import Array, Ids, SearchResult, Segment, sort_rows, to_codes, words_per_code

Words = npt.NDArray[np.uint64]
# Bit-flip masks over the bucket bits, their popcounts, and how many have at most r bits set.
_Masks = tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64]]

# Estimated cost (ns) of one bucket probe and of one row scanned in a bucket, relative to one row
# of a flat scan per 64-bit word: used to choose MIH or flat per threshold. Measured on the
# benchmark machine (AMD EPYC, single thread); only the ratio matters and it is not critical.
_PROBE_COST = 60.0
_SCAN_COST = 3.0
_FLAT_COST_PER_WORD = 0.3
# Probing this many buckets per substring is never worth it.
_MAX_MASKS = 200_000


class MihSegment(Segment):
    kind: ClassVar[str] = "mih"

    def __init__(
        self,
        bits: int,
        ids: Ids,
        words: Words,
        *,
        perm: npt.NDArray[np.int64],
        sub_len: npt.NDArray[np.int64],
        dir_bits: int,
        slots: npt.NDArray[np.unsignedinteger[Any]],
        offsets: npt.NDArray[np.uint32],
        collision: npt.NDArray[np.float64],
    ) -> None:
        super().__init__(bits, ids, words)
        self.perm = perm
        self.sub_len = sub_len
        self.dir_bits = dir_bits
        self.slots = slots
        self.offsets = offsets
        self.collision = collision
        self.sub_start = np.concatenate([[0], np.cumsum(sub_len)[:-1]]).astype(np.int64)
        self.bit_word, self.bit_shift = _bit_locations(perm)
        # Per-thread scratch bitmap for the search kernel (searches run concurrently).
        self._scratch = threading.local()
        # Probe plan per threshold (radii and masks), or None where a flat scan is cheaper.
        # Written without a lock: a race only computes the same plan twice.
        self._plans: dict[int, tuple[npt.NDArray[np.int64], _Masks] | None] = {}

    @property
    def substrings(self) -> int:
        return int(self.sub_len.shape[0])

    @classmethod
    def build(
        cls,
        bits: int,
        ids: Ids,
        words: Words,
        *,
        substrings: int | None = None,
        dir_bits: int | None = None,
        balance: bool = True,
        **options: Any,
    ) -> MihSegment:
        ids, words = sort_rows(ids, words)
        n = len(ids)
        m = substrings or auto_substrings(bits, n)
        if not 1 <= m <= bits or math.ceil(bits / m) > 32:
            raise ValueError(f"cannot split {bits} bits into {m} substrings of at most 32 bits")
        sub_len = np.array([bits // m + (1 if j < bits % m else 0) for j in range(m)], dtype=np.int64)
        lo, hi = int(sub_len.min()), int(sub_len.max())
        if dir_bits is None:
            dir_bits = round(math.log2(max(n, 2))) - 1
        dir_bits = max(1, hi - 8, min(dir_bits, lo, 24))
        if dir_bits < hi - 8 or dir_bits > lo:
            raise ValueError(f"dir_bits {dir_bits} does not fit substrings of {lo}..{hi} bits")
        perm = balanced_permutation(words, bits, sub_len) if balance else np.arange(bits, dtype=np.int64)
        bit_word, bit_shift = _bit_locations(perm)
        sub_start = np.concatenate([[0], np.cumsum(sub_len)[:-1]]).astype(np.int64)
        # Row number and key remainder in one word: 32 bits up to 16 M rows, else 64.
        slots = np.empty((m, n), np.uint32 if n < 1 << 24 else np.uint64)
        offsets = np.empty((m, (1 << dir_bits) + 1), np.uint32)
        collision = []
        for j in range(m):
            _kernels.bucketize(
                words,
                sub_start[j],
                sub_len[j],
                dir_bits,
                bit_word,
                bit_shift,
                slots[j],
                offsets[j],
            )
            sizes = np.diff(offsets[j]).astype(np.float64)
            collision.append(float(np.dot(sizes, sizes)) / max(n, 1))
        return cls(
            bits,
            ids,
            words,
            perm=perm,
            sub_len=sub_len,
            dir_bits=dir_bits,
            slots=slots,
            offsets=offsets,
            collision=np.array(collision, dtype=np.float64),
        )

    def radii(self, threshold: int) -> npt.NDArray[np.int64] | None:
        """Per-substring probe radius for a threshold, or None when a flat scan is cheaper.

        ``r_j = t // m`` satisfies the pigeonhole bound with ``m * (t // m + 1) - (t + 1)`` to
        spare; that many substrings get one bit less, starting with those whose buckets are
        most crowded (a radius of -1 skips a substring altogether)."""
        m = self.substrings
        base = threshold // m
        radii = np.full(m, base, dtype=np.int64)
        spare = m * (base + 1) - (threshold + 1)
        crowded = np.argsort(-self.collision, kind="stable")
        radii[crowded[:spare]] -= 1
        probes = 0.0
        scanned = 0.0
        for j in range(m):
            r = int(radii[j])
            if r < 0:
                continue
            count = _mask_count(self.dir_bits, r)
            if count > _MAX_MASKS:
                return None
            probes += count
            # Rows expected in the probed buckets: the query's own bucket is as crowded as the
            # data makes it; bits flipped away from it lead to average buckets.
            scanned += self.collision[j] + (count - 1) * len(self) / (1 << self.dir_bits)
        flat = len(self) * _FLAT_COST_PER_WORD * words_per_code(self.bits)
        if probes * _PROBE_COST + scanned * _SCAN_COST > flat:
            return None
        return radii

    def search(self, queries: Words, threshold: int) -> SearchResult:
        if threshold not in self._plans:
            radii = self.radii(threshold)
            self._plans[threshold] = (
                (radii, _masks(self.dir_bits, int(radii.max()))) if radii is not None else None
            )
        plan = self._plans[threshold]
        if plan is None:
            return super().search(queries, threshold)
        radii, (masks, pops, upto) = plan
        seen = getattr(self._scratch, "seen", None)
        if seen is None:
            seen = np.zeros((len(self) + 63) // 64, dtype=np.uint64)
            self._scratch.seen = seen
        lims, rows, dists = _kernels.mih_search(
            queries,
            self.words,
            threshold,
            radii,
            self.sub_start,
            self.sub_len,
            self.bit_word,
            self.bit_shift,
            self.dir_bits,
            self.slots,
            self.offsets,
            masks,
            pops,
            upto,
            seen,
        )
        return lims, rows, dists

    def arrays(self) -> dict[str, Array]:
        return {
            **super().arrays(),
            "perm": self.perm,
            "sub_len": self.sub_len,
            "slots": self.slots,
            "offsets": self.offsets,
            "collision": self.collision,
        }

    def params(self) -> dict[str, Any]:
        return {"dir_bits": self.dir_bits}

    @classmethod
    def restore(cls, bits: int, arrays: dict[str, Array], params: dict[str, Any]) -> MihSegment:
        return cls(
            bits,
            arrays["ids"],
            arrays["words"],
            perm=arrays["perm"],
            sub_len=arrays["sub_len"],
            dir_bits=int(params["dir_bits"]),
            slots=arrays["slots"],
            offsets=arrays["offsets"],
            collision=arrays["collision"],
        )


def auto_substrings(bits: int, n: int) -> int:
    """About one row per full substring key: ``m = bits / log2(n)``, each at most 32 bits."""
    m = round(bits / max(math.log2(max(n, 2)), 1.0))
    return max(math.ceil(bits / 32), min(m, bits // 8 if bits >= 64 else bits))


def balanced_permutation(
    words: Words, bits: int, sub_len: npt.NDArray[np.int64], sample: int = 65_536
) -> npt.NDArray[np.int64]:
    """Bit order whose consecutive runs (the substrings) carry about equal entropy.

    Greedy longest-processing-time: the most informative bits are dealt out first, each to the
    substring that has the least entropy so far and room left."""
    n = words.shape[0]
    if n == 0:
        return np.arange(bits, dtype=np.int64)
    step = max(1, n // sample)
    rows = to_codes(np.ascontiguousarray(words[::step]), bits)
    p = np.unpackbits(rows, axis=1)[:, :bits].mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    h = np.nan_to_num(h, nan=0.0)
    # Deterministic shuffle first so ties (uniform data) spread adjacent, correlated bits apart.
    shuffled = np.random.default_rng(0x5EED).permutation(bits)
    ranked = shuffled[np.argsort(-h[shuffled], kind="stable")]
    heap = [(0.0, j) for j in range(len(sub_len))]
    members: list[list[int]] = [[] for _ in range(len(sub_len))]
    for bit in ranked.tolist():
        load, j = heapq.heappop(heap)
        members[j].append(bit)
        if len(members[j]) < sub_len[j]:
            heapq.heappush(heap, (load + float(h[bit]), j))
    return np.array([bit for group in members for bit in group], dtype=np.int64)


def _bit_locations(perm: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    perm = np.asarray(perm, dtype=np.int64)
    word = perm // 64
    shift = 8 * ((perm % 64) // 8) + 7 - perm % 8
    return word.astype(np.int64), shift.astype(np.int64)


_mask_lock = threading.Lock()
_mask_cache: dict[tuple[int, int], _Masks] = {}


def _mask_count(dir_bits: int, radius: int) -> int:
    return sum(math.comb(dir_bits, k) for k in range(min(radius, dir_bits) + 1))


def _masks(dir_bits: int, radius: int) -> _Masks:
    """Every ``dir_bits``-bit mask with at most ``radius`` bits set, fewest bits first;
    ``upto[r]`` is how many have at most ``r``."""
    key = (dir_bits, radius)
    with _mask_lock:
        cached = _mask_cache.get(key)
    if cached is not None:
        return cached
    masks: list[int] = []
    upto: list[int] = []
    pops: list[int] = []
    for k in range(radius + 1):
        for combo in itertools.combinations(range(dir_bits), k):
            masks.append(sum(1 << b for b in combo))
            pops.append(k)
        upto.append(len(masks))
    result = (
        np.array(masks, dtype=np.uint32),
        np.array(pops, dtype=np.int64),
        np.array(upto, dtype=np.int64),
    )
    with _mask_lock:
        _mask_cache[key] = result
    return result
