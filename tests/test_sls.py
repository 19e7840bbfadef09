"""SLS as a method: budget accounting = complexity, the in-jit freeze, annealing, re-ranking,
kill/resume, 8 devices, configs (primitives: test_sls_primitives.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import traverse_util
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr import complexity, methods, model_dir, models, train
from jaxsr.configs_lib import load_sibling
from jaxsr.methods.sls import SLS, layer_table
from jaxsr.metric_writer import read_metrics
from jaxsr.optim import make_optimizer
from jaxsr.sparsity.budget import unit_costs
from jaxsr.sparsity.nm import nonzeros_per_group, rank_in_group, units

from .conftest import REPO, flat_params, tiny_config

TINY_SLS = REPO / "tests" / "configs" / "tiny_sls.py"


def tiny_sls(arg: str | None = None, data_dir: Path | None = None):
    return tiny_config("tiny_sls", arg, data_dir)


_flat = flat_params


def _method(cfg) -> SLS:
    from jaxsr.methods import sls

    return sls.make(cfg)


# ---------------------------------------------------------------- budget = complexity


@pytest.mark.parametrize("feat", [8, 6])  # 6 input channels, M=4: a zero-padded last group
def test_macs_term_equals_complexity_of_the_exported_model(tmp_path, feat):
    c = tiny_sls()
    c.model.overrides = {"num_feat": feat, "num_block": 2}
    c.sls.cost_at, c.sls.unit_cost = "hd", "exact"  # the reported GMACs' convention
    method = _method(c)
    module = models.create("msrresnet", 2, **c.model.overrides)
    params = models.init_params(module, jax.random.PRNGKey(0))
    trainable, state = method.init(params, jax.random.PRNGKey(1))
    rng = np.random.default_rng(feat)
    scores = {p: jnp.asarray(rng.uniform(0.3, 1.03, size=3), jnp.float32) for p in method.costs}
    trainable["scores"] = traverse_util.unflatten_dict(
        {tuple(k.split("/")): v for k, v in scores.items()}
    )
    b = method.gates(trainable, state)
    kept = float(method.macs_ratio(b)) * method.dense_cost
    e = method.export(trainable, state)
    d = model_dir.save_model(
        tmp_path / "m", e.params, "msrresnet", 2, dict(c.model.overrides), masks=e.masks
    )
    rep = complexity.pruned_report(d)
    unpruned = rep.dense_macs - method.dense_cost
    assert kept + unpruned == pytest.approx(rep.macs, rel=1e-6)
    assert method.dense_cost + unpruned == pytest.approx(rep.dense_macs, rel=1e-9)
    from jaxsr.experiment.tables import masked_macs_ratio

    assert masked_macs_ratio(d) == pytest.approx(kept / method.dense_cost, rel=1e-6)
    rows = {r["layer"]: r for r in layer_table(d, 4)}
    for p, g in b.items():  # per-layer N of the report = sum of the gates
        assert rows[p]["n"] == min(int(np.sum(np.asarray(g))), feat)
    # Fig. 6's panel (a): per-layer kept GMACs add up to what jaxsr.complexity counts
    kept_g = sum(r["gmacs"] for r in rows.values())
    assert kept_g * 1e9 + unpruned == pytest.approx(rep.macs, rel=1e-6)
    assert not any(r["last"] for r in rows.values())  # MSRResNet's conv_last is not pruned
    from jaxsr.figures import layer_n_plot

    png = layer_n_plot(list(rows.values()), tmp_path / "fig6.png", "t", uniform_n=2)
    assert png.stat().st_size > 0
    # eq. 5 when M divides the input channels
    if feat % 4 == 0:
        p = next(iter(method.costs))
        np.testing.assert_allclose(method.costs[p], np.full(4, method.costs[p].sum() / 4))


def test_unit_costs_count_real_weights_only():
    np.testing.assert_array_equal(
        unit_costs((3, 3, 12, 5), 12 * 450.0, 32), [450.0] * 12 + [0.0] * 20
    )
    np.testing.assert_array_equal(unit_costs((1, 1, 40, 2), 40.0, 32), [2.0] * 8 + [1.0] * 24)
    with pytest.raises(ValueError, match="HWIO"):
        unit_costs((3, 3), 1.0, 4)


# ---------------------------------------------------------------- the jitted search


def _steps(method: SLS, params, n: int, seed: int = 0, lr: float = 1e-2):
    """Run `n` real trainer steps (make_train_step) of `method` on a tiny MSRResNet; yields
    the state after every step."""
    module = models.create("msrresnet", 2, num_feat=8, num_block=2)
    ocfg = ml_collections.ConfigDict(
        {"lr": lr, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "schedule": "constant"}
    )
    tx = optax.with_extra_args_support(method.optimizer(make_optimizer(ocfg)))
    mesh = train.make_mesh(1)
    step = train.make_train_step(module, tx, "l1", 0.0, mesh, method, donate=False)
    state = train.init_state(module, tx, 0, False, method, params)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        batch = {
            "lr": rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8),
            "hr": rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8),
        }
        state, metrics = step(state, train.shard_batch(batch, mesh))
        yield state, metrics


def test_budget_freezes_gates_and_scores_for_good_inside_optax():
    c = tiny_sls("lr=0.02")
    method = _method(c)
    module = models.create("msrresnet", 2, num_feat=8, num_block=2)
    params = models.init_params(module, jax.random.PRNGKey(0))
    frozen_at, after = None, []
    for state, metrics in _steps(method, params, 60):
        ex = jax.device_get(state.extra)
        n = {p: int(np.sum(np.asarray(g))) for p, g in method.gates(state.params, ex).items()}
        seen = _flat(method.model_params(state.params, ex))
        for p in method.costs:  # every forward kernel is N:M with this step's N
            assert int(nonzeros_per_group(jnp.asarray(seen[p]), 4).max()) <= n[p]
        if bool(ex["frozen"]):
            if frozen_at is None:
                frozen_at = int(state.step)
                assert int(ex["budget_step"]) == frozen_at
                assert float(method.macs_ratio(method.gates(state.params, ex))) <= c.sls.target
            after.append((n, _flat(state.params["scores"]), float(ex["lam"])))
            assert float(metrics["searching"]) == (0.0 if int(state.step) > frozen_at else 1.0)
    assert frozen_at is not None and len(after) > 30, frozen_at
    for n, scores, lam in after[1:]:
        assert n == after[0][0]  # N never changes after the budget step
        assert lam == after[0][2]  # no annealing after it
        for p in scores:  # the scores never move...
            np.testing.assert_array_equal(scores[p], after[0][1][p])
    # ... although Adam's moments for them are non-zero (frozen in the final update)
    mu = _flat(state.opt_state.inner_states["scores"].inner_state[0][0].mu)
    assert any(np.any(v != 0) for v in mu.values())


def _one_layer(**kw) -> tuple[SLS, dict, dict]:
    method = SLS(costs={"a/kernel": np.ones(4)}, m=4, **kw)
    w = jnp.asarray(np.random.default_rng(0).normal(size=(1, 1, 8, 3)), jnp.float32)
    trainable, state = method.init({"a": {"kernel": w}}, jax.random.PRNGKey(0))
    return method, trainable, state


def _with_n(trainable: dict, n: int) -> dict:
    """Scores whose POP priorities keep exactly n of 4 units."""
    k = jnp.asarray([1.0] * (n - 1) + [0.2] * (4 - n), jnp.float32)
    return {**trainable, "scores": {"a": {"kernel": k}}}


def test_annealing_follows_eq7_every_k_steps_on_a_scripted_ratio_sequence():
    method, trainable, state = _one_layer(
        target=0.01, lam=1.0, alpha=1.5, anneal_every=3, anneal_threshold=0.2, rerank_every=0,
        anneal_rule="paper",
    )  # fmt: skip
    ns = [4, 4, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]  # ratio N/4 after step s+1
    update = jax.jit(method.update_state)
    lam, mark, want = 1.0, 1.0, []
    for s, n in enumerate(ns, start=1):
        state = update(_with_n(trainable, n), state, jnp.asarray(s))
        if s % 3 == 0:
            if abs(n / 4 - mark) <= 0.2:
                lam *= 1.5
            mark = n / 4
        want.append(lam)
        assert float(state["lam"]) == pytest.approx(lam, rel=1e-6), (s, n)
    # checks at 3 (1.0 -> 1.0: grow), 6 (0.75, moved 0.25: keep), 9 (0.5, 0.25: keep),
    # 12 (0.5: grow), 15 (0.25, 0.25: keep), 18 (0.25: grow)
    assert want[-1] == pytest.approx(1.5**3)
    off, tr, st0 = _one_layer(target=0.01, lam=1.0, anneal=False, rerank_every=0)
    for s in range(1, 10):
        st0 = off.update_state(_with_n(tr, 4), st0, jnp.asarray(s))
    assert float(st0["lam"]) == 1.0


def test_budget_check_is_cost_le_target_and_stops_annealing():
    method, trainable, state = _one_layer(
        target=0.5, lam=1.0, alpha=2.0, anneal_every=1, rerank_every=0, anneal_rule="paper"
    )
    state = method.update_state(_with_n(trainable, 3), state, jnp.asarray(1))
    assert not bool(state["frozen"]) and float(state["lam"]) == 1.0  # 0.75: moved 0.25 > 0.1
    state = method.update_state(_with_n(trainable, 2), state, jnp.asarray(2))  # 0.5 <= 0.5
    assert bool(state["frozen"]) and int(state["budget_step"]) == 2
    np.testing.assert_array_equal(np.asarray(state["gates"]["a"]["kernel"]), [1, 1, 0, 0])
    lam = float(state["lam"])
    for s in range(3, 8):  # frozen: gates and lambda fixed whatever the scores do
        state = method.update_state(_with_n(trainable, 4), state, jnp.asarray(s))
    assert float(state["lam"]) == lam and int(state["budget_step"]) == 2
    b = method.gates(_with_n(trainable, 4), state)
    np.testing.assert_array_equal(np.asarray(b["a/kernel"]), [1, 1, 0, 0])
    assert method.events(state) == {"budget_met": state["budget_step"]}


_rerank_cases = st.tuples(
    st.integers(1, 13), st.integers(1, 4), st.sampled_from([2, 4, 8]), st.integers(0, 2**16)
).flatmap(lambda t: st.tuples(st.just(t), st.integers(1, t[2])))


@pytest.mark.slow
@settings(deadline=None, max_examples=12)  # one compile per drawn shape
@given(_rerank_cases)
def test_reranking_keeps_kernel_equal_sum_of_units_and_nm(case):
    (cin, cout, m, seed), n = case
    rng = np.random.default_rng(seed)
    w0 = jnp.asarray(rng.normal(size=(3, 3, cin, cout)), jnp.float32)
    method = SLS(costs={"a/kernel": np.ones(m)}, m=m, target=0.01, rerank_every=2, anneal=False)
    trainable, state = method.init({"a": {"kernel": w0}}, jax.random.PRNGKey(0))
    k = jnp.asarray([1.0] * (n - 1) + [0.0] * (m - n), jnp.float32)
    w1 = jnp.asarray(rng.normal(size=w0.shape), jnp.float32)  # the weights moved
    tr = {"model": {"a": {"kernel": w1}}, "scores": {"a": {"kernel": k}}}
    update = jax.jit(method.update_state)  # as in the train step: one compile per shape
    stale = update(tr, state, jnp.asarray(1))  # not a re-ranking step
    np.testing.assert_array_equal(
        np.asarray(stale["ranks"]["a"]["kernel"]), np.asarray(rank_in_group(w0, m))
    )
    new = update(tr, state, jnp.asarray(2))
    ranks = np.asarray(new["ranks"]["a"]["kernel"])
    np.testing.assert_array_equal(ranks, np.asarray(rank_in_group(w1, m)))
    for st_ in (stale, new):  # effective kernel = sum of the gated units of its ranking
        got = np.asarray(jax.jit(method.model_params)(tr, st_)["a"]["kernel"])
        r = np.asarray(st_["ranks"]["a"]["kernel"])
        want = np.where(r < n, np.asarray(w1), 0)
        np.testing.assert_array_equal(got, want)
        assert int(nonzeros_per_group(jnp.asarray(got), m).max()) <= n
    np.testing.assert_array_equal(np.asarray(units(w1, m).sum(0)), np.asarray(w1))
    e = method.export(tr, new)
    np.testing.assert_array_equal(
        np.asarray(e.params["a"]["kernel"]), np.where(ranks < n, np.asarray(w1), 0)
    )


# ---------------------------------------------------------------- end to end


def test_sls_end_to_end_report_plot_and_plain_exported_model(data_dir, tmp_path):
    c = tiny_sls("pre", data_dir)
    reports = train.run(c, tmp_path / "w", quiet=True)
    assert [r["stage"] for r in reports] == ["pretrain", "sls"]
    rep = reports[1]
    assert 0 < rep["budget_step"] <= 12 and rep["target"] == 0.5
    assert rep["budget_fraction"] == rep["budget_step"] / 12
    assert rep["gmacs"] < rep["dense_gmacs"] and rep["nonzero_params"] < rep["params"]
    assert len(rep["layers"]) == 6 and all(1 <= r["n"] <= 4 for r in rep["layers"])
    assert (tmp_path / "w" / "sls" / "layer_n.png").stat().st_size > 1000
    ev = [r for r in read_metrics(tmp_path / "w" / "sls") if r["kind"] == "event"]
    assert ev == [{"step": rep["budget_step"], "kind": "event", "budget_met": rep["budget_step"]}]
    summary = json.loads((tmp_path / "w" / "sls" / "summary.json").read_text())
    assert summary["events"] == {"budget_met": rep["budget_step"]}
    # the exported model is plain: loads and runs with no method code, N:M per its report
    d = tmp_path / "w" / "sls" / "final_model"
    module, params, _ = model_dir.load_model(d)
    masks = _flat(model_dir.load_masks(d))
    flat = _flat(params)
    for r in rep["layers"]:
        w = jnp.asarray(flat[r["layer"]])
        assert int(nonzeros_per_group(w, 4).max()) <= r["n"]
        assert np.all(flat[r["layer"]][~masks[r["layer"]]] == 0)
    y = module.apply({"params": params}, jnp.zeros((1, 8, 8, 3)))
    assert y.shape == (1, 16, 16, 3)
    r = subprocess.run(
        [sys.executable, "-m", "jaxsr.complexity", f"--weights={d}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0 and f"{rep['gmacs']:.2f} GMACs" in r.stdout, r.stderr[-2000:]


# ---------------------------------------------------------------- configs


def test_sls_configs_variants_and_errors():
    get = load_sibling(str(REPO / "configs" / "sls.py"), "sls.py").get_config
    for arg in (
        "demo",
        "model=rfdn,budget=16",
        "model=carn_m,budget=8",
        "model=imdn",
        "model=edsr_baseline",
        "model=carn",
        "model=msrresnet,nopop,noanneal,rerank=-1",
    ):
        c = get(arg)
        stages = methods.recipe(c)
        assert stages[-1].name in ("", "sls"), arg
    c = get("model=rfdn,budget=16")
    assert c.sls.target == 1 / 16 and c.sls.m == 32 and c.init_from.endswith("rfdn_x4.pth")
    assert [s.name for s in methods.recipe(get("model=carn"))] == ["pretrain", "sls"]
    assert get("model=rfdn,target=0.32,budget=16").sls.target == 0.32  # target wins
    # the time-compressed protocol: the paper's periods (K 2000, R 1000 of 300k) scaled
    c = get("model=rfdn,steps=3000").sls
    assert (c.anneal_every, c.rerank_every, c.anneal_rule) == (20, 10, "code")
    assert (c.alpha, c.anneal_threshold, c.lam, c.cost_at, c.rgb_range) == (
        1.2, 0.2, 1e-10, "192", 255.0
    )  # fmt: skip
    c = get("model=rfdn,steps=300,rule=paper,rerank=-1").sls
    assert (c.anneal_every, c.rerank_every, c.alpha, c.anneal_threshold) == (2, 0, 1.1, 0.1)
    with pytest.raises(ValueError, match="rule='eq7'"):
        get("rule=eq7")
    with pytest.raises(ValueError, match="target=1.5"):
        get("target=1.5")
    with pytest.raises(ValueError, match="budget=3"):
        get("budget=3")
    with pytest.raises(ValueError, match="model='vgg'"):
        get("model=vgg")
    for key, val, msg in [
        ("target", 0.0, "sls.target=0.0"),
        ("m", 1, "sls.m=1"),
        ("k_max", 0.4, "sls.k_max=0.4"),
        ("rerank_every", -1, "sls.rerank_every=-1"),
        ("rules", ("nothing",), "sls.rules: prunable rules .* select no parameter"),
    ]:
        c = tiny_sls()
        c.sls[key] = val
        with pytest.raises(ValueError, match=msg):
            methods.recipe(c)
    c = tiny_sls()
    c.sls.targte = 0.1  # a misspelt key is an error, not ignored
    with pytest.raises(ValueError, match="config.sls.targte: unknown key"):
        methods.recipe(c)
    c = tiny_sls()
    del c.sls["alpha"]
    with pytest.raises(ValueError, match="config.sls.alpha is missing"):
        methods.recipe(c)
