"""Tiling for adaptive inference: a grid of cores, equal-size windows, blended outputs.

The LR image is cut into cores of `core` x `core` pixels (the last row/column of cores may be
shorter). Each core is processed inside a window of `core + 2 * context` pixels around it,
shifted inwards at the image borders so that every window lies inside the image and all have
one shape (one compilation per model and batch size). Images smaller than a window are
padded by edge replication (not exact: a whole-image run sees the convs' zero padding there)
and the output cropped; cores cover the image only. A tile's output is used over its core
widened by `blend` LR pixels on sides facing another core, with linear cross-fade weights
that sum to one everywhere (`blend = 0`: hard cores). With `context - blend` at least the
receptive field of a model (in LR pixels), running one model on every tile reproduces its
whole-image output (tests/test_adaptive.py); otherwise the tiles differ from it near cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class AxisTile:
    start: int  # core [start, stop) in LR pixels
    stop: int
    window: int  # window origin (the window is `Grid.window` long)


def axis_tiles(length: int, core: int, context: int, padded: int | None = None) -> list[AxisTile]:
    """Cores over `length` image pixels and their window origins in an axis of `padded` >=
    core + 2 * context pixels (default `length`; more when a small image was padded)."""
    window = core + 2 * context
    padded = length if padded is None else padded
    if padded < window or padded < length:
        raise ValueError(f"axis of {padded} px is shorter than the window {window} or the image")
    out = []
    for a in range(0, length, core):
        b = min(a + core, length)
        out.append(AxisTile(a, b, min(max(a - context, 0), padded - window)))
    return out


def ramp(n_hr: int, scale: int, lo: float | None, hi: float | None, blend: int) -> np.ndarray:
    """(n_hr,) weights over HR pixels [0, n_hr) of a core [lo, hi) (LR units, window
    coordinates; None: an image border, no fade) cross-faded over +-blend LR pixels."""
    u = (np.arange(n_hr, dtype=np.float64) + 0.5) / scale
    w = np.ones(n_hr)
    if lo is not None:
        w *= (u >= lo) if blend == 0 else np.clip((u - (lo - blend)) / (2 * blend), 0.0, 1.0)
    if hi is not None:
        w *= (u < hi) if blend == 0 else np.clip(((hi + blend) - u) / (2 * blend), 0.0, 1.0)
    return w


@dataclasses.dataclass(frozen=True)
class Grid:
    """The tiles of an (h, w) LR image."""

    h: int
    w: int
    core: int = 32
    context: int = 8
    blend: int = 4
    scale: int = 4

    def __post_init__(self) -> None:
        if self.core < 1 or self.context < 0 or self.blend < 0:
            raise ValueError(f"core={self.core} >= 1, context={self.context} >= 0, blend >= 0")
        if self.blend > self.context or 2 * self.blend > self.core:
            raise ValueError(
                f"blend={self.blend} must be <= context={self.context} and <= "
                f"core/2={self.core / 2:g}"
            )

    @property
    def window(self) -> int:
        return self.core + 2 * self.context

    @property
    def padded(self) -> tuple[int, int]:
        return max(self.h, self.window), max(self.w, self.window)

    @property
    def rows(self) -> list[AxisTile]:
        return axis_tiles(self.h, self.core, self.context, self.padded[0])

    @property
    def cols(self) -> list[AxisTile]:
        return axis_tiles(self.w, self.core, self.context, self.padded[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of cores."""
        return len(self.rows), len(self.cols)

    def extract(self, lr: np.ndarray) -> np.ndarray:
        """(rows * cols, window, window, C) windows of `lr` (h, w, C), row-major."""
        ph, pw = self.padded
        x = np.pad(lr, ((0, ph - self.h), (0, pw - self.w), (0, 0)), mode="edge")
        t = self.window
        return np.stack(
            [
                x[r.window : r.window + t, c.window : c.window + t]
                for r in self.rows
                for c in self.cols
            ]
        )

    def _weights(self, tiles: list[AxisTile], i: int) -> np.ndarray:
        t = tiles[i]
        lo = None if i == 0 else t.start - t.window
        hi = None if i == len(tiles) - 1 else t.stop - t.window
        return ramp(self.window * self.scale, self.scale, lo, hi, self.blend)

    def assemble(self, outputs: np.ndarray) -> np.ndarray:
        """The HR image (h*s, w*s, C) from the tiles' outputs (rows * cols, T*s, T*s, C)."""
        s, t = self.scale, self.window * self.scale
        ph, pw = self.padded
        out = np.zeros((ph * s, pw * s, outputs.shape[-1]), np.float32)
        rows, cols = self.rows, self.cols
        wy = [self._weights(rows, i).astype(np.float32) for i in range(len(rows))]
        wx = [self._weights(cols, j).astype(np.float32) for j in range(len(cols))]
        k = 0
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                wgt = wy[i][:, None, None] * wx[j][None, :, None]
                out[r.window * s : r.window * s + t, c.window * s : c.window * s + t] += (
                    wgt * outputs[k]
                )
                k += 1
        return out[: self.h * s, : self.w * s]

    def expand(self, per_tile: np.ndarray) -> np.ndarray:
        """A per-tile value map (rows, cols) at HR size (h*s, w*s), each core filled."""
        s = self.scale
        out = np.zeros((self.h * s, self.w * s), per_tile.dtype)
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.cols):
                out[r.start * s : r.stop * s, c.start * s : c.stop * s] = per_tile[i, j]
        return out


def batches(n: int, batch: int, multiple: int = 8) -> list[tuple[int, int, int]]:
    """(start, stop, padded size) chunks of n items: at most `batch` per chunk, each padded up
    to a multiple of `multiple` (so a model compiles for at most batch / multiple sizes and
    wastes fewer than `multiple` slots per chunk)."""
    out = []
    for a in range(0, n, batch):
        b = min(a + batch, n)
        out.append((a, b, min(batch, -(-(b - a) // multiple) * multiple)))
    return out


def run_batched(
    fn: Callable[[np.ndarray], np.ndarray], tiles: np.ndarray, batch: int
) -> np.ndarray:
    """`fn` over `tiles` (n, ...) in the chunks of `batches`, zero-padded; (n, ...) outputs."""
    outs = []
    for a, b, size in batches(len(tiles), batch):
        chunk = tiles[a:b]
        if size > b - a:
            chunk = np.concatenate(
                [chunk, np.zeros((size - (b - a), *chunk.shape[1:]), chunk.dtype)]
            )
        outs.append(np.asarray(fn(chunk))[: b - a])
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)
