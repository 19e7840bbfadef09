"""SLS budget maths (eqs. 5-7): MACs of N:M layers and the annealed regulariser weight.

`costs` maps a pruned kernel's '/'-joined path to its dense MACs C_l (summed over its calls,
at whatever input size the caller chose: `jaxsr.complexity.conv_costs`); a layer with N of M
units kept costs C_l * N / M. Pure jnp: differentiable through the gates' straight-through N.

Two annealing rules for lambda (`anneal_step`):
- "paper" (eq. 7): every K steps, lambda *= alpha if the pruned ratio C_pruned / C_original
  moved by <= T since the previous check;
- "code" (the official `trainer.py`): the compression factor C_original / C_pruned is
  recorded at the end of every epoch, and every second epoch lambda *= alpha if it grew by
  less than T during that epoch (signed, strict). With K = two epochs: record at steps
  K/2 (mod K), check at steps 0 (mod K) against that record.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def pruned_cost(costs: dict[str, float], n: dict[str, jax.Array], m: int) -> jax.Array:
    """sum_l C_l * N_l / M over the pruned layers (eq. 5 summed as in eq. 6)."""
    if set(costs) != set(n):
        raise ValueError(f"costs and N name different layers: {sorted(set(costs) ^ set(n))}")
    return sum(jnp.asarray(c, jnp.float32) * n[k] / m for k, c in sorted(costs.items()))


ANNEAL_RULES = ("code", "paper")


def anneal(
    lam: jax.Array, ratio_now: jax.Array, ratio_before: jax.Array, threshold: float, alpha: float
) -> jax.Array:
    """Eq. 7: lam * alpha if the pruned-ratio change over the last K steps is <= threshold."""
    return jnp.where(jnp.abs(ratio_now - ratio_before) <= threshold, lam * alpha, lam)


def anneal_code(
    lam: jax.Array,
    factor_now: jax.Array,
    factor_before: jax.Array,
    threshold: float,
    alpha: float,
) -> jax.Array:
    """The official code's rule: lam * alpha if the compression factor (original / pruned
    MACs) grew by less than `threshold` (`pruned_rate_change < annealing_thr`)."""
    return jnp.where(factor_now - factor_before < threshold, lam * alpha, lam)


def anneal_step(
    rule: str,
    lam: jax.Array,
    mark: jax.Array,
    ratio: jax.Array,
    step: jax.Array,
    every: int,
    threshold: float,
    alpha: float,
) -> tuple[jax.Array, jax.Array]:
    """(lam, mark) after step `step` (steps done) with pruned ratio `ratio` = C_pruned /
    C_original. `mark` is the rule's memory: the ratio at the previous check ("paper") or
    the factor 1/ratio recorded half a period ago ("code"). `every` = K steps."""
    if rule == "paper":
        check = step % every == 0
        new = anneal(lam, ratio, mark, threshold, alpha)
        return jnp.where(check, new, lam), jnp.where(check, ratio, mark)
    if rule == "code":
        if every < 2:
            raise ValueError(f"anneal rule 'code' needs K >= 2 steps (two epochs), got {every}")
        factor = 1.0 / ratio
        check, record = step % every == 0, step % every == every // 2
        new = anneal_code(lam, factor, mark, threshold, alpha)
        return jnp.where(check, new, lam), jnp.where(record, factor, mark)
    raise ValueError(f"unknown anneal rule {rule!r}; known: {', '.join(ANNEAL_RULES)}")


UNIT_COSTS = ("code", "exact")


def unit_costs(
    kernel_shape: tuple[int, ...], dense_macs: float, m: int, rule: str = "exact"
) -> np.ndarray:
    """Rule "code": every unit costs C_l / M (eq. 5 and the official `compute_costs`, which
    counts the zero padding of a last group of fewer than M input channels as weights).
    Rule "exact": the MACs of each of the M 1:M units of a conv kernel (HWIO) whose dense MACs are
    `dense_macs`: unit i holds one weight of every group that has an i-th real (not padding)
    input channel, so with I = g*M + r input channels unit i has g + [i < r] weights per
    (kh, kw, out) position. The units sum to `dense_macs`; when M divides I every unit costs
    C_l / M, and sum_i b_i * unit_costs[i] is eq. 5. When it does not (e.g. 12 input channels,
    M = 32) this is the exact MACs of the kept non-zero weights, as `jaxsr.complexity`
    counts them, where eq. 5 would count padding."""
    if len(kernel_shape) != 4:
        raise ValueError(f"expected an HWIO kernel shape, got {kernel_shape}")
    if rule not in UNIT_COSTS:
        raise ValueError(f"unknown unit cost rule {rule!r}; known: {', '.join(UNIT_COSTS)}")
    if rule == "code":
        return np.full(m, float(dense_macs) / m, np.float64)
    cin = int(kernel_shape[2])
    full, rest = divmod(cin, m)
    per_unit = np.full(m, full, np.float64) + (np.arange(m) < rest)
    return per_unit * (float(dense_macs) / cin)


def gated_cost(costs: dict[str, np.ndarray], gates: dict[str, jax.Array]) -> jax.Array:
    """sum over layers of sum_i b_i * unit_costs_i (the eq. 6 regulariser; differentiable
    through straight-through gates)."""
    if set(costs) != set(gates):
        raise ValueError(
            f"costs and gates name different layers: {sorted(set(costs) ^ set(gates))}"
        )
    total = jnp.zeros((), jnp.float32)
    for k in sorted(costs):
        total = total + jnp.dot(jnp.asarray(costs[k], jnp.float32), gates[k].astype(jnp.float32))
    return total
