"""grain input pipeline: random aligned HR/LR patches with flips and 90-degree rotations.

`train_iterator` turns decoded image pairs (kept in RAM) into an infinite, seeded iterator of
`{"lr": uint8 [B, p, p, 3], "hr": uint8 [B, p*s, p*s, 3]}` per-host batches:

    MapDataset.source(indices).shuffle(seed).repeat()   # a new order every epoch (computed
                                                        # an epoch at a time: data/shuffle.py)
      .random_map(crop_and_augment, seed=seed + 1)      # per-sample RNG from (seed, index)
      .batch(B // process_count)                        # blocks of the global stream
      [process_index::process_count]                    # this host's block of each batch
      .to_iter_dataset(...)

Sample k of the global stream gets the same crop whatever the number of hosts, and the hosts'
batches t, stacked in process order, are the single-host batch t. Every batch is a pure
function of (seed, position), so `iterator.get_state()` (`{"next_index": t}` with t = batches
consumed = global steps: the same on every host and for any host count; saved in checkpoints)
restores the stream exactly, also with a different number of hosts. Patches stay uint8 until
they reach the device (4x less host->device traffic); the train step converts them to float.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import grain
import numpy as np

from jaxsr.data import shuffle
from jaxsr.data.tfds_builders import Pairs


@dataclasses.dataclass(frozen=True)
class CropAugment(grain.transforms.RandomMap):
    """Random aligned crop (LR patch `lr_patch`, HR patch `lr_patch * scale`) + dihedral aug."""

    pairs: Pairs
    lr_patch: int
    scale: int
    augment: bool = True

    def random_map(self, index: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        hr, lr = self.pairs.hr[index], self.pairs.lr[index]
        p, s = self.lr_patch, self.scale
        y = int(rng.integers(0, lr.shape[0] - p + 1))
        x = int(rng.integers(0, lr.shape[1] - p + 1))
        lr_p = lr[y : y + p, x : x + p]
        hr_p = hr[y * s : (y + p) * s, x * s : (x + p) * s]
        if self.augment:
            hflip, vflip, rot = rng.integers(0, 2, 3)
            if hflip:
                lr_p, hr_p = lr_p[:, ::-1], hr_p[:, ::-1]
            if vflip:
                lr_p, hr_p = lr_p[::-1], hr_p[::-1]
            if rot:
                lr_p, hr_p = lr_p.transpose(1, 0, 2), hr_p.transpose(1, 0, 2)
        return {"lr": np.ascontiguousarray(lr_p), "hr": np.ascontiguousarray(hr_p)}


def drop_small(pairs: Pairs, lr_patch: int) -> tuple[Pairs, list[str]]:
    """Pairs whose LR can hold an `lr_patch` crop, and the names of those dropped."""
    keep = [i for i, lr in enumerate(pairs.lr) if min(lr.shape[:2]) >= lr_patch]
    dropped = [n for i, n in enumerate(pairs.names) if i not in set(keep)]
    return Pairs(
        [pairs.names[i] for i in keep], [pairs.hr[i] for i in keep], [pairs.lr[i] for i in keep]
    ), dropped


def check_pairs(pairs: Pairs, lr_patch: int, scale: int) -> None:
    if len(pairs) == 0:
        raise ValueError("training set is empty")
    for name, hr, lr in zip(pairs.names, pairs.hr, pairs.lr, strict=True):
        if min(lr.shape[:2]) < lr_patch:
            raise ValueError(
                f"image {name!r}: LR {lr.shape[1]}x{lr.shape[0]} is smaller than "
                f"the LR patch {lr_patch} (HR patch {lr_patch * scale})"
            )
        if hr.shape[0] != lr.shape[0] * scale or hr.shape[1] != lr.shape[1] * scale:
            raise ValueError(
                f"image {name!r}: HR {hr.shape[:2]} is not x{scale} of LR {lr.shape[:2]}"
            )


def train_dataset(
    pairs: Pairs,
    hr_patch: int,
    scale: int,
    global_batch: int,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    augment: bool = True,
    skip_small: bool = False,
) -> grain.MapDataset:
    """The (infinite) batched MapDataset for one host.

    `skip_small`: leave out images too small for the patch (with a warning) instead of
    failing; it still fails when none is left."""
    if hr_patch % scale:
        raise ValueError(f"HR patch {hr_patch} is not a multiple of the scale {scale}")
    if global_batch % process_count:
        raise ValueError(f"batch {global_batch} not divisible by {process_count} processes")
    lr_patch = hr_patch // scale
    if skip_small:
        pairs, dropped = drop_small(pairs, lr_patch)
        if dropped:
            warnings.warn(
                f"skipping {len(dropped)} training image(s) smaller than the HR patch "
                f"{hr_patch}: {', '.join(dropped[:8])}{' ...' if len(dropped) > 8 else ''}",
                stacklevel=2,
            )
        if len(pairs) == 0:
            raise ValueError(f"no training image is large enough for the HR patch {hr_patch}")
    check_pairs(pairs, lr_patch, scale)
    ds = shuffle.shuffled_indices(len(pairs), seed)  # = source(range(n)).shuffle(seed).repeat()
    # crops are drawn on the global stream (the RNG of sample k depends on k only), then the
    # stream is cut into per-host blocks: global batch t = the hosts' batches t, in host order
    ds = ds.random_map(CropAugment(pairs, lr_patch, scale, augment), seed=seed + 1)
    ds = ds.batch(global_batch // process_count, drop_remainder=True)
    if process_count > 1:
        ds = ds[process_index::process_count]
    return ds


def train_iterator(ds: grain.MapDataset, num_threads: int = 2, prefetch: int = 8) -> Any:
    """A checkpointable iterator (`get_state()` / `set_state(state)`)."""
    opts = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
    return iter(ds.to_iter_dataset(opts))
