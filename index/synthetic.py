"""Synthetic hash lists for tests and benchmarks: uniform, and clustered like real lists.

Real lists are not uniform random bits. They hold families of near-duplicates (re-encodes, crops
and resizes of one image, each listed separately), family sizes are heavy-tailed, and perceptual
hash bits are biased and correlated (the low-frequency DCT coefficients of natural images are
not coin flips). Multi-index hashing is at its worst on exactly that, so ``clustered`` makes it:

* every bit has its own bias (the first quarter strongly so, up to 90/10);
* half of each family centre's bits are copied from one of a few dozen "styles", which
  correlates bits across families;
* family sizes follow a Zipf law (many singletons, a few families of thousands);
* members differ from their centre by 0..``spread`` random bit flips.

Everything is seeded and generated in chunks, so 10 M PDQ hashes take seconds and ~1 GB.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Codes = npt.NDArray[np.uint8]

_CHUNK = 1 << 16


def uniform(n: int, bits: int, seed: int = 0) -> Codes:
    return np.random.default_rng(seed).integers(0, 256, (n, bits // 8), dtype=np.uint8)


def flip(codes: Codes, distances: npt.NDArray[np.int64], seed: int = 0) -> Codes:
    """Each row with exactly ``distances[i]`` distinct bits flipped."""
    rng = np.random.default_rng(seed)
    codes = np.array(codes, dtype=np.uint8, copy=True)
    bits = codes.shape[1] * 8
    for start in range(0, len(codes), _CHUNK):
        stop = min(start + _CHUNK, len(codes))
        keys = rng.random((stop - start, bits))
        # The d smallest keys of a row are d distinct random positions.
        ranks = np.argsort(keys, axis=1)
        mask = np.zeros((stop - start, bits), dtype=bool)
        take = np.arange(bits)[None, :] < distances[start:stop, None]
        rows = np.broadcast_to(np.arange(stop - start)[:, None], ranks.shape)
        mask[rows[take], ranks[take]] = True
        codes[start:stop] ^= np.packbits(mask, axis=1)
    return codes


class Clustered:
    """A generator of clustered, skewed hashes with one fixed bit bias and set of styles."""

    def __init__(self, bits: int, seed: int = 0, styles: int = 48, spread: int = 24) -> None:
        self.bits = bits
        self.spread = spread
        self._rng = np.random.default_rng(seed)
        strong = self._rng.uniform(0.1, 0.9, bits // 4)
        mild = self._rng.uniform(0.35, 0.65, bits - bits // 4)
        self.bias = np.concatenate([strong, mild])
        self.styles = self._rng.random((styles, bits)) < self.bias

    def centres(self, n: int) -> Codes:
        """Fresh family centres (also what a clean query image looks like)."""
        out = np.empty((n, self.bits // 8), dtype=np.uint8)
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            own = self._rng.random((stop - start, self.bits)) < self.bias
            style = self.styles[self._rng.integers(0, len(self.styles), stop - start)]
            copied = self._rng.random((stop - start, self.bits)) < 0.5
            out[start:stop] = np.packbits(np.where(copied, style, own), axis=1)
        return out

    def families(self, n: int, zipf: float = 1.8, largest: int | None = None) -> Codes:
        """``n`` hashes in families around fresh centres, in random order. The largest family
        defaults to n / 500 (20 000 at 10 M)."""
        largest = largest or max(20, n // 500)
        sizes: list[int] = []
        total = 0
        while total < n:
            batch = np.minimum(self._rng.zipf(zipf, 1 << 16), largest)
            sizes.extend(batch.tolist())
            total += int(batch.sum())
        size_arr = np.array(sizes, dtype=np.int64)
        size_arr = size_arr[: int(np.searchsorted(np.cumsum(size_arr), n)) + 1]
        size_arr[-1] -= int(size_arr.sum()) - n
        centres = self.centres(len(size_arr))
        members = np.repeat(centres, size_arr, axis=0)
        # Each member flips each bit with probability d/bits, d uniform in 0..spread (so about d
        # flips; exact counts are only needed for planted queries, which use ``flip``).
        rates = self._rng.integers(0, self.spread + 1, n).astype(np.float32) / self.bits
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            noise = self._rng.random((stop - start, self.bits), dtype=np.float32) < rates[start:stop, None]
            members[start:stop] ^= np.packbits(noise, axis=1)
        return members[self._rng.permutation(n)]


def brute_force(
    ids: npt.NDArray[np.int64], codes: Codes, queries: Codes, threshold: int
) -> list[list[tuple[int, int]]]:
    """The oracle: every (id, distance) within ``threshold`` of each query by XOR and popcount
    over all rows, sorted like ``HammingIndex.search``."""
    out: list[list[tuple[int, int]]] = []
    for query in queries:
        distances = np.bitwise_count(np.bitwise_xor(codes, query[None, :])).sum(axis=1, dtype=np.int64)
        hit = np.nonzero(distances <= threshold)[0]
        pairs = sorted(zip(distances[hit].tolist(), ids[hit].tolist(), strict=True))
        out.append([(int(i), int(d)) for d, i in pairs])
    return out
