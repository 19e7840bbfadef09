"""SLS primitives: POP priorities, straight-through gates, gated kernels, the MACs budget,
lambda annealing, and the score projection / freeze transforms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr import complexity, model_dir, models
from jaxsr.optim.projection import clip_params, freeze_if
from jaxsr.sparsity import apply_masks, nm_masks, prunable_paths
from jaxsr.sparsity.budget import anneal, pruned_cost
from jaxsr.sparsity.nm import nm_mask
from jaxsr.sparsity.priority import effective_n, gated_kernel, priorities, ste_gates
from jaxsr.sparsity.selection import ALL_BUT_ENDS_RULES

_scores = st.integers(2, 33).flatmap(
    lambda m: st.lists(st.floats(0.0, 1.0, width=32), min_size=m - 1, max_size=m - 1)
)


@settings(deadline=None, max_examples=60)
@given(_scores)
def test_pop_priorities_non_increasing_and_first_is_one(k):
    p = np.asarray(priorities(jnp.asarray(k, jnp.float32)))
    assert p[0] == 1.0 and p.shape == (len(k) + 1,)
    assert np.all(np.diff(p) <= 0)
    np.testing.assert_allclose(p[1:], np.cumprod(np.asarray(k, np.float32)), rtol=1e-5, atol=1e-30)
    free = np.asarray(priorities(jnp.asarray(k, jnp.float32), pop=False))
    np.testing.assert_array_equal(free[1:], np.asarray(k, np.float32))


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(0.0, 1.25, width=32), min_size=1, max_size=32))
def test_gates_binary_forward_identity_backward(p):
    p = jnp.asarray(p, jnp.float32)
    b = ste_gates(p, 0.5)
    np.testing.assert_array_equal(np.asarray(b), (np.asarray(p) > 0.5).astype(np.float32))
    c = jnp.arange(1.0, p.size + 1)
    np.testing.assert_array_equal(np.asarray(jax.grad(lambda q: jnp.sum(c * ste_gates(q)))(p)), c)
    assert float(effective_n(b)) == float(np.sum(np.asarray(p) > 0.5))


@settings(deadline=None, max_examples=30)
@given(st.integers(1, 13), st.sampled_from([2, 4, 8]), st.integers(0, 2**16), st.data())
def test_gated_kernel_is_exactly_the_nm_masked_kernel(cin, m, seed, data):
    n = data.draw(st.integers(1, m))
    w = jnp.asarray(np.random.default_rng(seed).normal(size=(3, 3, cin, 4)), jnp.float32)
    b = jnp.asarray([1.0] * n + [0.0] * (m - n))
    got = np.asarray(gated_kernel(w, b, m))
    want = np.where(np.asarray(nm_mask(w, n, m)), np.asarray(w), 0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.asarray(gated_kernel(w, jnp.ones(m), m)), np.asarray(w))
    with pytest.raises(ValueError, match="gates shape"):
        gated_kernel(w, jnp.ones(m + 1), m)


def test_budget_cost_equals_complexity_of_the_exported_model(tmp_path):
    module = models.create("msrresnet", 2, num_feat=8, num_block=2)
    params = models.init_params(module, jax.random.PRNGKey(0))
    paths = prunable_paths(params, ALL_BUT_ENDS_RULES["msrresnet"])
    lr_shape = complexity.hd_lr_shape(2)
    costs = {k: v for k, v in complexity.conv_costs(module, lr_shape).items() if k in paths}
    ns = {p: 1 + i % 4 for i, p in enumerate(sorted(paths))}  # per-layer N in 1..4 of M=4
    masks = nm_masks(params, {p: (n, 4) for p, n in ns.items()})
    out = model_dir.save_model(
        tmp_path / "m",
        apply_masks(params, masks),
        "msrresnet",
        2,
        {"num_feat": 8, "num_block": 2},
        masks=masks,
    )
    rep = complexity.pruned_report(out)
    dense_rest = rep.dense_macs - sum(costs.values())
    n_arr = {p: jnp.asarray(float(n)) for p, n in ns.items()}
    assert float(pruned_cost(costs, n_arr, 4)) + dense_rest == pytest.approx(rep.macs, rel=1e-6)
    # differentiable in N: d cost / d N_l = C_l / M
    g = jax.grad(lambda n: pruned_cost(costs, n, 4))(n_arr)
    for p in paths:
        assert float(g[p]) == pytest.approx(costs[p] / 4, rel=1e-6)
    with pytest.raises(ValueError, match="name different layers"):
        pruned_cost(costs, {}, 4)


def test_anneal_follows_eq7_on_a_scripted_sequence():
    # pruned ratio measured every K steps; lam grows by alpha when it moved by <= T
    ratios = [0.0, 0.0, 0.05, 0.30, 0.31, 0.31, 0.60]
    lam, got = jnp.asarray(1e-10), []
    for before, now in zip(ratios, ratios[1:], strict=False):
        lam = anneal(lam, jnp.asarray(now), jnp.asarray(before), 0.2, 1.2)
        got.append(float(lam))
    want, v = [], 1e-10
    for before, now in zip(ratios, ratios[1:], strict=False):
        v = v * 1.2 if abs(now - before) <= 0.2 else v
        want.append(v)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[2] == got[1]  # the 0.25 jump: no growth


def test_clip_projection_and_freeze_inside_optax():
    k = {"k": jnp.asarray([0.9, 0.02, 1.0, 0.5], jnp.float32)}
    tx = optax.with_extra_args_support(
        optax.chain(optax.adam(0.1), clip_params(0.0, 1.03), freeze_if("frozen"))
    )
    state = tx.init(k)
    rng = np.random.default_rng(0)
    for step in range(40):
        frozen = step >= 20
        g = {"k": jnp.asarray(rng.normal(size=4) * 5, jnp.float32)}
        before = np.asarray(k["k"])
        u, state = tx.update(g, state, k, frozen=jnp.asarray(frozen))
        k = optax.apply_updates(k, u)
        now = np.asarray(k["k"])
        assert np.all(now >= -1e-7) and np.all(now <= 1.03 + 1e-6)
        if frozen:  # never moves, although Adam's moments are non-zero
            np.testing.assert_array_equal(now, before)
    mu = state[0][0].mu["k"]
    assert np.all(np.asarray(mu) != 0)
    with pytest.raises(ValueError, match="freeze_if: update\\(\\) needs frozen"):
        tx2 = freeze_if("frozen")
        tx2.update(g, tx2.init(k), k)
