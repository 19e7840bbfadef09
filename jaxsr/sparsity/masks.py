"""Masks: a bool pytree with the prunable leaves of params only (other leaves absent).

Masks live beside the params (a method's state, `TrainState.extra["masks"]`), are saved
with every checkpoint and as `masks.npz` next to an exported model, and are read back with
`load` for inspection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxsr.sparsity.selection import Rule, path_str, prunable_paths


def init_masks(params: Any, rules: Sequence[Rule]) -> dict:
    """All-True masks for the params the rules select."""
    sel = set(prunable_paths(params, rules))
    flat = traverse_util.flatten_dict(params)
    return traverse_util.unflatten_dict(
        {k: jnp.ones(v.shape, bool) for k, v in flat.items() if path_str(k) in sel}
    )


def map_masked(fn, tree: Any, masks: dict, *rest: Any) -> Any:
    """`fn(leaf, mask, *rest_leaves)` on masked leaves of a params-shaped tree; others kept."""
    flat = traverse_util.flatten_dict(tree)
    fm = traverse_util.flatten_dict(masks)
    fr = [traverse_util.flatten_dict(r) for r in rest]
    out = {k: (fn(v, fm[k], *(r[k] for r in fr)) if k in fm else v) for k, v in flat.items()}
    return traverse_util.unflatten_dict(out)


def apply_masks(params: Any, masks: dict) -> Any:
    """params with pruned weights set to exactly 0."""
    return map_masked(lambda p, m: jnp.where(m, p, jnp.zeros_like(p)), params, masks)


def sparsity_report(params: Any, masks: dict) -> dict[str, Any]:
    """Per-layer and total sparsity of the prunable params (fraction of zero weights)."""
    flat = traverse_util.flatten_dict(jax.device_get(params))
    fm = traverse_util.flatten_dict(jax.device_get(masks))
    layers, zeros, total = {}, 0, 0
    for k, m in fm.items():
        w = np.asarray(flat[k])
        z = int(np.sum(~np.asarray(m)))
        layers[path_str(k)] = {
            "size": int(w.size),
            "pruned": z,
            "sparsity": z / w.size,
            "zero_weights": int(np.sum(w == 0)),
        }
        zeros += z
        total += w.size
    all_params = sum(int(np.asarray(v).size) for v in flat.values())
    return {
        "sparsity": zeros / total,
        "pruned": zeros,
        "prunable": total,
        "model_sparsity": zeros / all_params,
        "params": all_params,
        "layers": layers,
    }


def report_table(report: dict[str, Any]) -> str:
    rows = [f"{'layer':<36}{'size':>10}{'pruned':>10}{'sparsity':>10}"]
    for name, r in report["layers"].items():
        rows.append(f"{name:<36}{r['size']:>10}{r['pruned']:>10}{100 * r['sparsity']:>9.2f}%")
    rows.append(
        f"{'prunable total':<36}{report['prunable']:>10}{report['pruned']:>10}"
        f"{100 * report['sparsity']:>9.2f}%"
    )
    rows.append(
        f"{'whole model':<36}{report['params']:>10}{report['pruned']:>10}"
        f"{100 * report['model_sparsity']:>9.2f}%"
    )
    return "\n".join(rows)


def save(path: str | os.PathLike, masks: dict) -> None:
    """Write masks as a compressed .npz ('/'-joined paths as keys), atomically."""
    path = Path(path)
    flat = {k: np.asarray(v) for k, v in traverse_util.flatten_dict(masks, sep="/").items()}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **flat)
    os.replace(tmp, path)


def load(path: str | os.PathLike) -> dict:
    """Masks written by `save` (e.g. `round_02/masks.npz`, `final_model/masks.npz`)."""
    with np.load(path) as z:
        return traverse_util.unflatten_dict({k: z[k] for k in z.files}, sep="/")
