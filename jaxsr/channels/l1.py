"""L1-norm filter pruning (Li et al., ICLR 2017), the SLS paper's structured baseline.

A unit's score is the L1 norm of its output filters, summed over every conv producing the
group (tied convs are ranked jointly). Every selected group keeps the same fraction of its
units (at least `min_units`), the highest-scoring ones; `fit_fraction` finds the largest
fraction whose pruned model fits a MACs budget. Pure numpy on host params.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from jaxsr.channels.graph import ChannelGraph, ChannelGroup


def _flat(params: Any) -> dict[str, np.ndarray]:
    flat = traverse_util.flatten_dict(jax.device_get(params))
    return {"/".join(k): np.asarray(v) for k, v in flat.items()}


def unit_scores(params: Any, group: ChannelGroup) -> np.ndarray:
    """(units,) L1 norms of each unit's output filters over the group's producing kernels."""
    flat = _flat(params)
    scores = np.zeros(group.size)
    for path in group.producers:
        w = np.abs(flat[path]).sum(axis=(0, 1, 2))  # per output filter (HWIO)
        scores += [w[idx].sum() for idx in group.index[(path, 3)]]
    return scores


def top(scores: np.ndarray, n: int) -> np.ndarray:
    """Bool mask of the `n` largest scores (ties: the lower index wins)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep = np.zeros(len(scores), bool)
    keep[order[:n]] = True
    return keep


def count(size: int, fraction: float, min_units: int) -> int:
    """Units kept of a group of `size` at `fraction` (rounded, >= min_units, <= size)."""
    return int(min(size, max(min(min_units, size), round(fraction * size))))


def uniform_keep(
    params: Any, graph: ChannelGraph, names: Sequence[str], fraction: float, min_units: int = 4
) -> dict[str, np.ndarray]:
    """The keep-set keeping the top-L1 `fraction` of every named group."""
    out = {}
    for name in names:
        g = graph.group(name)
        out[name] = top(unit_scores(params, g), count(g.size, fraction, min_units))
    return out


def filter_masks(params: Any, kernels: Sequence[str], fraction: float) -> dict[str, np.ndarray]:
    """Per kernel path, a bool (O,) mask keeping the top-L1 `ceil(fraction * O)` filters."""
    flat = _flat(params)
    out = {}
    for path in kernels:
        w = np.abs(flat[path]).sum(axis=(0, 1, 2))
        out[path] = top(w, max(1, math.ceil(fraction * len(w))))
    return out


def fit_fraction(cost: Callable[[float], float], budget: float, iters: int = 40) -> float:
    """The largest fraction in (0, 1] with `cost(fraction) <= budget` (cost non-decreasing)."""
    if cost(1.0) <= budget:
        return 1.0
    lo, hi = 0.0, 1.0
    if cost(lo) > budget:
        raise ValueError(
            f"MACs budget {budget / 1e9:.3f} G is below what the kept minimum costs "
            f"({cost(lo) / 1e9:.3f} G): raise the target or lower min_channels"
        )
    for _ in range(iters):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cost(mid) <= budget else (lo, mid)
    return lo


def plan(
    model: Any,
    params: Any,
    scale: int,
    target: float,
    rules: Sequence[Any] = (),
    upsampler: bool = False,
    min_units: int = 4,
    image_filters: bool | None = None,
) -> dict:
    """Uniform L1 filter pruning of `model`'s `params` to `target` x its dense MACs (1280x720
    output), as a JSON-able plan: the fraction, kept units per group (`keep`, `sizes`), kept
    filters of the image-channel convs (`filters`, with `upsampler`), the `widths` override,
    MACs and params before and after (masked filters count as removed). `image_filters`
    (default: `upsampler`) = whether the image-channel convs get filter masks; False with
    `upsampler` prunes the sub-pixel groups only (physically, no masks)."""
    from jaxsr import complexity
    from jaxsr.channels import surgery
    from jaxsr.channels.graph import trace
    from jaxsr.channels.selection import output_convs, select_groups

    params = jax.device_get(params)
    graph = trace(model)
    names = select_groups(graph, rules, upsampler)
    outs = output_convs(graph) if (upsampler if image_filters is None else image_filters) else []
    dense = complexity.conv_costs(model, complexity.hd_lr_shape(scale))
    total = sum(dense.values())

    def cost(f: float) -> float:
        keep = uniform_keep(params, graph, names, f, min_units)
        masks = filter_masks(params, outs, f)
        scaled = {p: v * (float(masks[p].mean()) if p in masks else 1.0) for p, v in dense.items()}
        return surgery.macs(graph, keep, scaled)

    fraction = fit_fraction(cost, target * total)
    keep = uniform_keep(params, graph, names, fraction, min_units)
    masks = filter_masks(params, outs, fraction)
    pruned = traverse_util.flatten_dict(surgery.prune_params(params, graph, keep))
    n_params = sum(v.size for v in pruned.values())
    for path, m in masks.items():  # masked filters hold no params either
        n_params -= int((~m).sum()) * int(np.prod(pruned[tuple(path.split("/"))].shape[:3]))
    return {
        "fraction": fraction,
        "keep": {k: np.flatnonzero(v).tolist() for k, v in keep.items()},
        "sizes": {k: graph.group(k).size for k in keep},
        "filters": {k: np.flatnonzero(v).tolist() for k, v in masks.items()},
        "widths": surgery.widths(graph, keep),
        "dense_macs": total,
        "macs": cost(fraction),
        "target_macs": target * total,
        "dense_params": int(sum(np.size(v) for v in jax.tree.leaves(params))),
        "params": int(n_params),
    }


def keep_from_plan(p: dict) -> dict[str, np.ndarray]:
    """The keep-set of a plan (bool arrays from its kept-unit index lists)."""
    keep = {}
    for name, idx in p["keep"].items():
        k = np.zeros(p["sizes"][name], bool)
        k[idx] = True
        keep[name] = k
    return keep
