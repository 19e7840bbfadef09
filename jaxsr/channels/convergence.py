"""Channel and weight pruning ratios of a jointly pruned model, and FMP's convergence criteria.

FMP (supplement Sec. 2.2) prunes channels (structured) and weights (unstructured) at once and
stops when a criterion holds, with ratios measured in params or in FLOPs:

- gamma_C: the fraction of the dense model's cost removed by pruned channels (a conv loses
  `1 - kept_in/I * kept_out/O` of its cost);
- gamma_W: the fraction removed by pruned weights inside the kept channels;
- criteria: "channel" (gamma_C >= target_C), "weight" (gamma_W >= target_W), "total_fixed"
  (both), "total" (gamma_C + gamma_W >= target_C + target_W; the split found by training,
  the paper's choice). The remaining cost is 1 - gamma_C - gamma_W (Table 3's "Total Ratio").

`Ratios` is built once from a `ChannelGraph` and per-kernel dense costs; `__call__` is pure jnp
(usable inside the jitted step) on per-group bool keep vectors and per-kernel bool masks of
live weights (any shape broadcastable to the kernel's HWIO shape).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxsr.channels.graph import ChannelGraph

CRITERIA = ("channel", "weight", "total_fixed", "total")


@dataclasses.dataclass(frozen=True, eq=False)
class Ratios:
    """gamma_C, gamma_W of keep vectors and weight masks (see the module docstring)."""

    groups: tuple[str, ...]  # the order of the keep vectors
    sizes: tuple[int, ...]
    kernels: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    cost: tuple[float, ...]  # dense cost per kernel (MACs or params)
    index_in: tuple[np.ndarray, ...]  # per kernel: position in the concatenated keep vector
    index_out: tuple[np.ndarray, ...]

    @classmethod
    def build(cls, graph: ChannelGraph, cost: Mapping[str, float]) -> Ratios:
        """`cost`: kernel path -> its dense cost (`complexity.conv_costs` for FLOPs, or the
        kernel's size for params)."""
        names = tuple(g.name for g in graph.groups)
        sizes = tuple(g.size for g in graph.groups)
        offset = np.concatenate([[0], np.cumsum(sizes)])
        total = int(offset[-1])  # the slot of "always kept" (fixed or unowned channels)
        units = graph.axis_units()
        kernels = tuple(k for k in graph.shapes if k in cost)
        idx_in, idx_out = [], []
        for k in kernels:
            for axis, dest in ((2, idx_in), (3, idx_out)):
                n = graph.shapes[k][axis]
                grp, unit = units.get((k, axis), (np.full(n, -1), np.full(n, -1)))
                fixed = np.asarray(
                    [graph.groups[g].kind == "fixed" if g >= 0 else True for g in grp]
                )
                pos = np.where(fixed, total, offset[np.maximum(grp, 0)] + unit)
                dest.append(pos.astype(np.int32))
        return cls(
            names,
            sizes,
            kernels,
            tuple(tuple(graph.shapes[k]) for k in kernels),
            tuple(float(cost[k]) for k in kernels),
            tuple(idx_in),
            tuple(idx_out),
        )

    def __call__(
        self, keep: Mapping[str, jax.Array], live: Mapping[str, jax.Array] | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """(gamma_C, gamma_W). `keep`: group name -> bool (units,) (missing: all kept);
        `live`: kernel path -> bool mask of unpruned weights (missing: all live)."""
        parts = [
            jnp.asarray(keep[n], jnp.float32) if n in keep else jnp.ones(s, jnp.float32)
            for n, s in zip(self.groups, self.sizes, strict=True)
        ]
        flat = jnp.concatenate([*parts, jnp.ones(1, jnp.float32)])
        total = sum(self.cost)
        kept_c = 0.0
        pruned_w = 0.0
        live = live or {}
        for k, shape, c, ii, io in zip(
            self.kernels, self.shapes, self.cost, self.index_in, self.index_out, strict=True
        ):
            kin, kout = flat[ii], flat[io]
            kept_c = kept_c + c * jnp.mean(kin) * jnp.mean(kout)
            if k in live:
                alive = jnp.broadcast_to(jnp.asarray(live[k], jnp.float32), shape)
                chan = kin[None, None, :, None] * kout[None, None, None, :]
                pruned_w = pruned_w + c * jnp.mean((1.0 - alive) * chan)
        return 1.0 - kept_c / total, pruned_w / total


def converged(
    criterion: str, gamma_c: jax.Array, gamma_w: jax.Array, target_c: float, target_w: float
) -> jax.Array:
    """Whether `criterion` (one of `CRITERIA`) holds (a jnp bool)."""
    if criterion == "channel":
        return gamma_c >= target_c
    if criterion == "weight":
        return gamma_w >= target_w
    if criterion == "total_fixed":
        return (gamma_c >= target_c) & (gamma_w >= target_w)
    if criterion == "total":
        return gamma_c + gamma_w >= target_c + target_w
    raise ValueError(f"convergence criterion {criterion!r}; known: {', '.join(CRITERIA)}")
