"""L1-norm filter pruning (Li et al., ICLR 2017), the SLS paper's structured baseline.

A unit's score is the L1 norm of its output filters, summed over every conv producing the
group. Two schemes (`SCHEMES`):
- "li" (Li et al.): filters are ranked within each layer, and only channel groups produced
  by one conv are pruned; groups tied across convs (by additions: a residual trunk, ESA's
  conv3 + conv_f; or by a gate x * sigmoid(conv(x))) have no per-layer ranking and stay
  dense, as Li et al. prune only the first conv of each residual block (the second conv's
  output must match the identity shortcut);
- "joint": tied groups are pruned too, their units ranked by the L1 summed over the
  producing convs (every channel of EDSR halved, trunk included, is how the SLS paper's L1
  row for EDSR-baseline gets its 380.93K params).
The channels a conv writes into the image (the last conv, or the pixel-shuffle conv of a
model ending in one) are never pruned or masked. Every selected group keeps the same
fraction of its units (at least `min_units`), the highest-scoring ones: a given fraction, or
(`fit_fraction`) the largest whose pruned model fits a MACs budget. Pure numpy on host
params.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from jaxsr import complexity
from jaxsr.channels import surgery
from jaxsr.channels.graph import ChannelGraph, ChannelGroup, trace
from jaxsr.channels.group_rules import select_groups


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


SCHEMES = ("li", "joint")


def scheme_groups(graph: ChannelGraph, names: Sequence[str], scheme: str) -> list[str]:
    """The groups of `names` a scheme prunes: "li" only those produced by a single conv."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown L1 scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if scheme == "joint":
        return list(names)
    out = [n for n in names if len(graph.group(n).producers) == 1]
    if not out:
        raise ValueError(
            f"scheme 'li' prunes only groups with one producing conv; the selected groups "
            f"({', '.join(names)}) are all tied across convs (use scheme 'joint')"
        )
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
    scheme: str = "li",
    fraction: float = 0.0,
) -> dict:
    """L1 filter pruning of `model`'s `params` by `scheme` as a JSON-able plan: the
    fraction (`fraction` if > 0, else the largest meeting `target` x the dense MACs at a
    1280x720 output), kept units per group (`keep`, `sizes`), the `widths` override, MACs and
    params before and after. `upsampler`: the sub-pixel groups of upsampling convs are
    prunable too (never the image's channels)."""

    params = jax.device_get(params)
    graph = trace(model)
    names = scheme_groups(graph, select_groups(graph, rules, upsampler), scheme)
    dense = complexity.conv_costs(model, complexity.hd_lr_shape(scale))
    total = sum(dense.values())

    def cost(f: float) -> float:
        return surgery.macs(graph, uniform_keep(params, graph, names, f, min_units), dense)

    if fraction > 0:
        if fraction > 1:
            raise ValueError(f"L1 fraction {fraction} must be in (0, 1]")
    else:
        fraction = fit_fraction(cost, target * total)
    keep = uniform_keep(params, graph, names, fraction, min_units)
    pruned = traverse_util.flatten_dict(surgery.prune_params(params, graph, keep))
    return {
        "scheme": scheme,
        "fraction": fraction,
        "keep": {k: np.flatnonzero(v).tolist() for k, v in keep.items()},
        "sizes": {k: graph.group(k).size for k in keep},
        "widths": surgery.widths(graph, keep),
        "dense_macs": total,
        "macs": cost(fraction),
        "target_macs": target * total,
        "dense_params": int(sum(np.size(v) for v in jax.tree.leaves(params))),
        "params": int(sum(v.size for v in pruned.values())),
    }


def keep_from_plan(p: dict) -> dict[str, np.ndarray]:
    """The keep-set of a plan (bool arrays from its kept-unit index lists)."""
    keep = {}
    for name, idx in p["keep"].items():
        k = np.zeros(p["sizes"][name], bool)
        k[idx] = True
        keep[name] = k
    return keep
