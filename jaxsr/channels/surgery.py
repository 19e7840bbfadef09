"""Keep-sets over channel groups -> masks, physically smaller params, per-conv widths, MACs.

A keep-set is `{group name: bool array over its units}`; groups it leaves out keep every unit.
`mask_params` zeroes the removed units' slices in the full-size params (the "masked model"),
`prune_params` cuts them out, and `widths` gives the model override under which the registry
builds the smaller model (`models.create(name, scale, widths=...)`): both compute the same
function (tested on every registry model), since a removed unit's values can reach the kept
channels only through the slices that are zeroed or cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from jaxsr.channels.graph import ChannelGraph

Keep = Mapping[str, Any]  # group name -> bool array (units,)


def check_keep(graph: ChannelGraph, keep: Keep) -> None:
    """Reject unknown groups, wrong lengths, fixed groups and groups left empty."""
    names = {g.name: g for g in graph.groups}
    for name, k in keep.items():
        if name not in names:
            raise ValueError(f"keep-set names no channel group {name!r}")
        g, k = names[name], np.asarray(k)
        if k.shape != (g.size,) or k.dtype != bool:
            raise ValueError(f"keep[{name!r}]: expected bool ({g.size},), got {k.dtype} {k.shape}")
        if g.kind == "fixed" and not k.all():
            raise ValueError(f"channel group {name!r} is tied to the image in/output: fixed")
        if not k.any():
            raise ValueError(f"keep[{name!r}] removes every unit of the group")


def axis_masks(graph: ChannelGraph, keep: Keep) -> dict[str, dict[int, np.ndarray]]:
    """`{param path: {axis: bool mask over that axis}}` for the params the keep-set changes."""
    check_keep(graph, keep)
    out: dict[str, dict[int, np.ndarray]] = {}
    for g in graph.groups:
        if g.name not in keep:
            continue
        dropped = np.flatnonzero(~np.asarray(keep[g.name]))
        if not dropped.size:
            continue
        for path, axis in g.members:
            n = graph.shapes[path][axis]
            mask = out.setdefault(path, {}).setdefault(axis, np.ones(n, bool))
            for u in dropped:
                mask[g.index[(path, axis)][u]] = False
    return out


def _map(params: Any, fn: Any) -> Any:
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict({k: fn("/".join(k), v) for k, v in flat.items()})


def mask_params(params: Any, graph: ChannelGraph, keep: Keep) -> Any:
    """Full-size params with every removed unit's slices set to zero."""
    masks = axis_masks(graph, keep)

    def fn(path: str, v: Any) -> Any:
        for axis, m in masks.get(path, {}).items():
            shape = [1] * v.ndim
            shape[axis] = -1
            v = v * m.reshape(shape).astype(v.dtype)
        return v

    return _map(params, fn)


def prune_params(params: Any, graph: ChannelGraph, keep: Keep) -> Any:
    """The params of the physically smaller model (host numpy arrays)."""
    masks = axis_masks(graph, keep)

    def fn(path: str, v: Any) -> Any:
        v = np.asarray(jax.device_get(v))
        for axis, m in masks.get(path, {}).items():
            v = np.take(v, np.flatnonzero(m), axis=axis)
        return v

    return _map(params, fn)


def widths(graph: ChannelGraph, keep: Keep) -> dict[str, int | tuple[int, ...]]:
    """The `widths` model override of the pruned model: conv module path -> output channels
    (segment widths for convs whose output the model slices), for the convs that change."""
    masks = axis_masks(graph, keep)
    out: dict[str, int | tuple[int, ...]] = {}
    for kpath, info in graph.convs.items():
        m = masks.get(kpath, {}).get(3)
        if m is None:
            continue
        n, g = int(m.sum()), int(info["groups"])
        if n % g:
            raise ValueError(f"{kpath}: {n} output channels left, not divisible by groups={g}")
        name = kpath.removesuffix("/kernel")
        cuts = info["segments"]
        if cuts:
            bounds = (0, *cuts, len(m))
            out[name] = tuple(int(m[a:b].sum()) for a, b in zip(bounds, bounds[1:], strict=False))
        else:
            out[name] = n
    return out


def macs(graph: ChannelGraph, keep: Keep, dense: Mapping[str, float]) -> float:
    """MACs of the pruned model from the dense model's per-kernel MACs (`complexity.conv_costs`):
    a conv's MACs scale with its kept input and output channels."""
    masks = axis_masks(graph, keep)
    total = 0.0
    for kpath, cost in dense.items():
        m = masks.get(kpath, {})
        fin = float(m[2].mean()) if 2 in m else 1.0
        fout = float(m[3].mean()) if 3 in m else 1.0
        total += float(cost) * fin * fout
    return total
