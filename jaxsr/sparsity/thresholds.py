"""Magnitude thresholds (paper eqs. 1-2, Algorithm 1 line 2) and the masks they give.

Per layer: lambda = the p-th percentile of the *non-zero* |w| of the layer's surviving weights;
the new mask removes surviving weights with |w| < lambda. Global: one percentile over all
surviving prunable weights. Computed on the host in float64 (numpy's linear-interpolation
percentile, the reference the tests use).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import traverse_util


def layer_threshold(w: np.ndarray, mask: np.ndarray, percent: float) -> float:
    alive = np.abs(np.asarray(w, np.float64)[np.asarray(mask) & (np.asarray(w) != 0)])
    return float(np.percentile(alive, percent)) if alive.size else 0.0


def prune_masks(
    params: Any, masks: dict, percent: float, scope: str = "layer"
) -> tuple[dict, dict]:
    """New masks pruning `percent`% of each layer's (or all layers') surviving weights.

    Returns (masks, thresholds by layer path)."""
    if not 0 <= percent < 100:
        raise ValueError(f"pruning percent must be in [0, 100), got {percent}")
    flat = traverse_util.flatten_dict(jax.device_get(params))
    fm = traverse_util.flatten_dict(jax.device_get(masks))
    if scope == "layer":
        lam = {k: layer_threshold(flat[k], fm[k], percent) for k in fm}
    elif scope == "global":
        alive = np.concatenate(
            [
                np.abs(np.asarray(flat[k], np.float64))[
                    np.asarray(fm[k]) & (np.asarray(flat[k]) != 0)
                ]
                for k in fm
            ]
        )
        g = float(np.percentile(alive, percent)) if alive.size else 0.0
        lam = dict.fromkeys(fm, g)
    else:
        raise ValueError(f"pruning scope must be 'layer' or 'global', got {scope!r}")
    new = {k: np.asarray(fm[k]) & (np.abs(np.asarray(flat[k])) >= lam[k]) for k in fm}
    return (traverse_util.unflatten_dict(new), {"/".join(k): v for k, v in lam.items()})
