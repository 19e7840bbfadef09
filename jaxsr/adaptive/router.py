"""SLS eq. 8: per tile, a trade-off between a candidate's cost and its estimated error.

With candidates sorted by cost, C_1 >= ... >= C_n (C_n: the cheapest, e.g. bicubic), and
f_i(x) the estimated MSE of candidate i on tile x, the choice is

    argmax_i  beta * (C_1 - C_i) / C_1  +  (f_n(x) - f_i(x)) / f_n(x)

beta = 0 picks the lowest estimated error; a large beta the cheapest candidate. Ties go to
the earlier candidate of the sorted order (the costlier one). Pure numpy/jnp, no model code.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np


def cost_order(costs: Any) -> np.ndarray:
    """Indices sorting candidates by cost, costliest first (stable for equal costs)."""
    return np.argsort(-np.asarray(costs, np.float64), kind="stable")


def scores(costs: Any, est_mse: Any, beta: float) -> Any:
    """(tiles, n) eq. 8 objective, columns in the given candidate order. `costs` (n,) > 0;
    `est_mse` (tiles, n) > 0, the estimated MSEs."""
    xp = jnp if not isinstance(est_mse, np.ndarray) else np
    c = xp.asarray(costs, dtype=est_mse.dtype)
    order = cost_order(np.asarray(costs))
    c1 = c[order[0]]
    fn = est_mse[:, order[-1]][:, None]
    return beta * (c1 - c)[None, :] / c1 + (fn - est_mse) / fn


def choose(costs: Any, est_mse: Any, beta: float) -> Any:
    """(tiles,) index of the chosen candidate per tile (into the given order)."""
    s = scores(costs, est_mse, beta)
    order = cost_order(np.asarray(costs))
    xp = jnp if not isinstance(est_mse, np.ndarray) else np
    best = xp.argmax(s[:, order], axis=1)  # first maximum = the costlier of tied candidates
    return xp.asarray(order)[best]
