"""grain's per-epoch index shuffle, one epoch at a time: the same order, without its cost on
small datasets.

`grain.MapDataset.shuffle(seed).repeat()` maps position k of the stream to
`index_shuffle(k % n, n - 1, seed + k // n)`: a 4-round Simon cipher on a block of at least
16 bits, cycle-walked until it lands below n. With n images the walk takes ~65536 / n cipher
calls per element, so on the 3 embedded sample images every sample costs ~7 ms (a tiny test
run spent most of its time there; BENCHMARKS.md). `ShuffledIndices` gives the same stream
from a whole epoch's permutation at once: the cipher over all 2^16 blocks (numpy, vectorised)
and the walk by pointer doubling, cached per epoch. Datasets over 65536 images (a larger
block, where grain's own cost is small) keep grain's shuffle.
"""

from __future__ import annotations

import functools
import sys

import grain
import numpy as np

ROUNDS = 4  # grain's MapDataset.shuffle
BLOCK_BITS = 16  # grain's minimum block size; datasets of up to 2^16 images use it


def round_keys(seed: int, n: int = ROUNDS) -> np.ndarray:
    """`std::seed_seq{seed}.generate(n values)` (C++ [rand.util.seedseq]), as grain derives
    its cipher's round keys from a 32-bit seed."""
    b = [0x8B8B8B8B] * n
    s, m = 1, max(2, n)
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p = (n - t) // 2
    q = p + t

    def tw(x: int) -> int:
        return x ^ (x >> 27)

    for k in range(m):
        r1 = (1664525 * tw(b[k % n] ^ b[(k + p) % n] ^ b[(k - 1) % n])) & 0xFFFFFFFF
        if k == 0:
            r2 = r1 + s
        elif k <= s:
            r2 = r1 + k % n + (seed & 0xFFFFFFFF)
        else:
            r2 = r1 + k % n
        r2 &= 0xFFFFFFFF
        b[(k + p) % n] = (b[(k + p) % n] + r1) & 0xFFFFFFFF
        b[(k + q) % n] = (b[(k + q) % n] + r2) & 0xFFFFFFFF
        b[k % n] = r2
    for k in range(m, m + n):
        r3 = (1566083941 * tw((b[k % n] + b[(k + p) % n] + b[(k - 1) % n]) & 0xFFFFFFFF)) & (
            0xFFFFFFFF
        )
        r4 = (r3 - k % n) & 0xFFFFFFFF
        b[(k + p) % n] ^= r3
        b[(k + q) % n] ^= r4
        b[k % n] = r4
    return np.array(b, np.uint32)


def _simon_block16(keys: np.ndarray) -> np.ndarray:
    """The cipher on every 16-bit block: out[v] = Simon(v) with 8-bit words (grain's
    `simon_encrypt<8>`: left = high byte, right = low byte; keys truncated to a word)."""
    v = np.arange(1 << BLOCK_BITS, dtype=np.uint32)
    left, right = v >> 8, v & 0xFF

    def f(x: np.ndarray) -> np.ndarray:  # (rotl1 & rotl8) ^ rotl2; rotl by 8 of a byte is x
        rot1 = ((x << 1) | (x >> 7)) & 0xFF
        rot2 = ((x << 2) | (x >> 6)) & 0xFF
        return (rot1 & x) ^ rot2

    for i in range(0, len(keys), 2):
        left = left ^ f(right) ^ (int(keys[i]) & 0xFF)
        right = right ^ f(left) ^ (int(keys[i + 1]) & 0xFF)
    return (left << 8) | right


@functools.lru_cache(maxsize=8)
def epoch_permutation(n: int, seed: int) -> np.ndarray:
    """perm[i] = grain's `index_shuffle(i, max_index=n - 1, seed, rounds=4)` for all i < n
    (n <= 2^16): the cipher's next value below n along i's cycle (cycle walking)."""
    if not 1 <= n <= 1 << BLOCK_BITS:
        raise ValueError(f"epoch_permutation needs 1 <= n <= {1 << BLOCK_BITS}, got {n}")
    if n == 1:
        return np.zeros(1, np.int64)
    step = _simon_block16(round_keys(seed % (1 << 32))).astype(np.int64)
    # follow the cipher from each block until it lands below n: values below n stop there
    # (fixed points); doubling the jumps reaches them from any block in <= 16 rounds
    jump = np.where(np.arange(step.size) < n, np.arange(step.size), step)
    first = step[:n]
    while True:
        landed = jump[first]
        if np.all(landed < n):
            return landed
        jump = jump[jump]


class ShuffledIndices(grain.MapDataset):
    """The infinite stream of `MapDataset.source(range(n)).shuffle(seed).repeat()`: a new
    order every epoch (seed + epoch), element for element (tests/test_pipeline.py)."""

    def __init__(self, n: int, seed: int):
        super().__init__()
        if not 1 <= n <= 1 << BLOCK_BITS:
            raise ValueError(f"ShuffledIndices needs 1 <= n <= {1 << BLOCK_BITS}, got {n}")
        self._n, self._seed = int(n), int(seed)

    def __len__(self) -> int:
        return sys.maxsize

    def __str__(self) -> str:
        return f"ShuffledIndices(n={self._n}, seed={self._seed})"

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return self.slice(index)
        epoch, i = divmod(int(index), self._n)
        return np.int64(epoch_permutation(self._n, (self._seed + epoch) % (1 << 32))[i])


def shuffled_indices(n: int, seed: int) -> grain.MapDataset:
    """Image indices of an infinite stream, reshuffled every epoch, as grain's
    `source(range(n)).shuffle(seed).repeat()` orders them."""
    if n <= 1 << BLOCK_BITS:
        return ShuffledIndices(n, seed)
    return grain.MapDataset.source(np.arange(n)).shuffle(seed=seed).repeat()
