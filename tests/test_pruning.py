"""UPru/DUPru: selection rules, masks, the optax transforms, thresholds, rounds with rewinding."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import traverse_util
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxsr import model_dir, models, train
from jaxsr.configs_lib import load_sibling
from jaxsr.optim.freezing import freeze_below, zero_grads_below
from jaxsr.optim.masking import keep_masked
from jaxsr.sparsity import masks as masks_lib
from jaxsr.sparsity.selection import describe, prunable_paths, rules_for
from jaxsr.sparsity.thresholds import layer_threshold, prune_masks

from .conftest import REPO, with_overrides

TINY_PRUNE = REPO / "tests" / "configs" / "tiny_prune.py"


def _cfg(method="dupru", **over):
    return with_overrides(load_sibling(str(TINY_PRUNE), "tiny_prune.py").get_config(method), **over)


def _msr_params():
    return models.init_params(models.create("msrresnet", 2, num_feat=8, num_block=3), 0)


def test_default_msrresnet_rules_select_residual_block_convs_only():
    params = _msr_params()
    sel = prunable_paths(params, rules_for("msrresnet"))
    assert sel == [f"body_{i}/conv{j}/kernel" for i in range(3) for j in (1, 2)]
    assert "6 prunable tensors" in describe(params, rules_for("msrresnet"))


def test_rules_first_match_wins_and_errors():
    params = _msr_params()
    sel = prunable_paths(params, [(r"body_0/.*", False), r"body_\d+/conv1/kernel"])
    assert sel == ["body_1/conv1/kernel", "body_2/conv1/kernel"]
    with pytest.raises(ValueError, match="select no parameter"):
        prunable_paths(params, [r"nothing/here"])
    with pytest.raises(ValueError, match=r"invalid regex"):
        prunable_paths(params, [r"body_(\d"])
    for name in ("rfdn", "imdn", "carn_m", "edsr_baseline", "carn"):
        p = models.abstract_params(models.create(name, 2))
        sel = prunable_paths(p, rules_for(name))
        assert sel and all(s.endswith("kernel") for s in sel)  # never biases


def test_masks_mirror_prunable_leaves_only():
    params = _msr_params()
    m = masks_lib.init_masks(params, rules_for("msrresnet"))
    flat = traverse_util.flatten_dict(m)
    assert set(flat) == {("body_" + str(i), f"conv{j}", "kernel") for i in range(3) for j in (1, 2)}
    assert all(v.dtype == bool and v.all() for v in flat.values())


def _adam_chain(*constraints, pre=()):
    return optax.chain(*pre, optax.adam(1e-2), *constraints)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.1, 0.9))
def test_masked_weights_stay_exactly_zero(seed, frac):
    rng = np.random.default_rng(seed)
    params = {
        "a": {
            "kernel": jnp.asarray(rng.normal(size=(3, 3, 4, 5)), jnp.float32),
            "bias": jnp.asarray(rng.normal(size=5), jnp.float32),
        }
    }
    masks = {"a": {"kernel": jnp.asarray(rng.uniform(size=(3, 3, 4, 5)) > frac)}}
    tx = _adam_chain(keep_masked())
    state = tx.init(params)

    @jax.jit
    def step(params, state, g):
        u, state = tx.update(g, state, params, masks=masks)
        return optax.apply_updates(params, u), state

    for i in range(25):
        g = jax.tree.map(
            lambda p, i=i: jnp.asarray(
                np.random.default_rng(seed + i).normal(size=p.shape), jnp.float32
            ),
            params,
        )
        params, state = step(params, state, g)
        k = np.asarray(params["a"]["kernel"])
        assert np.all(k[~np.asarray(masks["a"]["kernel"])] == 0.0)
    assert np.any(k[np.asarray(masks["a"]["kernel"])] != 0)
    assert not np.array_equal(params["a"]["bias"], 0)  # unmasked leaves train


def test_frozen_weights_unchanged_despite_adam_momentum():
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(64,)), jnp.float32)
    params = {"w": w}
    masks = {"w": jnp.ones(64, bool)}
    tx = _adam_chain(keep_masked(), freeze_below(0.05))
    state = tx.init(params)
    g = {"w": jnp.ones(64, jnp.float32)}
    for _ in range(5):  # build up momentum on every weight
        u, state = tx.update(g, state, params, masks=masks)
        params = optax.apply_updates(params, u)
    small = np.arange(64) % 4 == 0
    params = {"w": params["w"].at[small].set(0.01 * jnp.sign(params["w"][small]) + 0.001)}
    adam_mu = np.asarray(state[0][0].mu["w"])
    assert np.all(adam_mu[small] != 0)  # the moments would move them
    before = np.asarray(params["w"]).copy()
    for _ in range(10):
        u, state = tx.update({"w": -jnp.ones(64)}, state, params, masks=masks)
        params = optax.apply_updates(params, u)
    after = np.asarray(params["w"])
    frozen = np.abs(before) < 0.05
    assert frozen[small].all()
    np.testing.assert_array_equal(after[frozen], before[frozen])
    assert np.all(after[~frozen] != before[~frozen])


def test_zero_grads_below_keeps_moments_clean():
    params = {"w": jnp.asarray([0.0, 1e-5, 0.5, -2.0])}
    tx = _adam_chain(freeze_below(1e-3), pre=[zero_grads_below(1e-3)])
    state = tx.init(params)
    u, state = tx.update({"w": jnp.ones(4)}, state, params)
    mu = np.asarray(state[1][0].mu["w"])
    assert mu[0] == 0 and mu[1] == 0 and mu[2] != 0
    assert np.asarray(u["w"])[:2].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("freeze", ["grad", "update", "both"])
def test_dupru_freeze_choices_through_the_methods_optimizer(freeze):
    """eq. 4 literally ("grad"): a weight that falls below EPS gets no new gradient but
    Adam's first moment keeps moving it, decaying by b1 (hand-computed Adam below); with
    "update"/"both" it does not move at all. Weights above EPS train alike in all three."""
    from jaxsr.methods.magnitude import MagnitudePruning

    eps, lr, b1, b2, ae = 0.05, 1e-2, 0.9, 0.999, 1e-8
    base = optax.chain(optax.scale_by_adam(b1, b2, ae), optax.scale_by_learning_rate(lr))
    method = MagnitudePruning("dupru", {"w": jnp.ones(2, bool)}, eps, freeze)
    tx = method.optimizer(base)
    params = {"w": jnp.asarray([1.0, 1.0])}
    state = tx.init(params)
    g = {"w": jnp.asarray([1.0, 1.0])}
    m = v = np.zeros(2)
    for _ in range(1, 6):  # momentum on both weights, both above EPS
        u, state = tx.update(g, state, params, masks={"w": jnp.ones(2, bool)})
        params = optax.apply_updates(params, u)
        m, v = b1 * m + (1 - b1) * 1.0, b2 * v + (1 - b2) * 1.0
    params = {"w": params["w"].at[0].set(0.01)}  # weight 0 falls below EPS
    w0 = 0.01
    for t in range(6, 16):
        u, state = tx.update(g, state, params, masks={"w": jnp.ones(2, bool)})
        params = optax.apply_updates(params, u)
        m, v = b1 * m, b2 * v  # weight 0's gradient is zero from here (grad, both)
        mhat, vhat = m[0] / (1 - b1**t), v[0] / (1 - b2**t)
        step = lr * mhat / (np.sqrt(vhat) + ae)
        if freeze == "grad":
            w0 = w0 - step
            assert float(u["w"][0]) == pytest.approx(-step, rel=1e-4), t
        else:
            assert float(u["w"][0]) == 0.0, t
        assert float(u["w"][1]) < 0  # above EPS: trains in every choice
    w = float(params["w"][0])
    if freeze == "grad":
        assert w == pytest.approx(w0, rel=1e-4) and w < 0.01  # moved by momentum alone
    else:
        assert w == np.float32(0.01)


def test_dupru_freeze_is_a_config_choice_checked_before_compute():
    from jaxsr.methods import magnitude

    c = load_sibling(str(REPO / "configs" / "dupru.py"), "dupru.py").get_config("demo")
    assert c.pruning.freeze == "grad"  # the paper's eq. 4
    c.pruning.freeze = "weights"
    with pytest.raises(ValueError, match="pruning.freeze='weights'"):
        magnitude.check_config(c)


@settings(max_examples=40, deadline=None)
@given(
    w=arrays(np.float32, st.integers(5, 200), elements=st.floats(-3, 3, width=32)),
    percent=st.floats(0, 99),
    zero_frac=st.floats(0, 0.5),
)
def test_threshold_is_numpy_percentile_over_nonzeros(w, percent, zero_frac):
    w = w.copy()
    w[: int(len(w) * zero_frac)] = 0.0
    mask = np.ones(w.shape, bool)
    nz = np.abs(w[w != 0]).astype(np.float64)
    want = float(np.percentile(nz, percent)) if nz.size else 0.0
    assert layer_threshold(w, mask, percent) == want
    new, lam = prune_masks({"l": {"kernel": w}}, {"l": {"kernel": mask}}, percent)
    assert lam["l/kernel"] == want
    np.testing.assert_array_equal(new["l"]["kernel"], np.abs(w) >= want)


def test_global_scope_uses_one_threshold():
    a = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    b = np.linspace(2.0, 3.0, 10, dtype=np.float32)
    params = {"a": {"kernel": a}, "b": {"kernel": b}}
    ones = {"a": {"kernel": np.ones(10, bool)}, "b": {"kernel": np.ones(10, bool)}}
    new, lam = prune_masks(params, ones, 50, scope="global")
    assert lam["a/kernel"] == lam["b/kernel"] == np.percentile(np.concatenate([a, b]), 50)
    assert not new["a"]["kernel"].any() and new["b"]["kernel"].all()


def _final(workdir: Path, rnd: int):
    _, p, _ = model_dir.load_model(workdir / f"round_{rnd:02d}" / "final_model")
    return jax.tree.map(np.asarray, p)


def test_rewind_restores_exactly_rewind_times_mask(data_dir, tmp_path):
    # lr = 0: each round's final params are exactly its starting params
    cfg = _cfg(
        "upru",
        **{
            "data.data_dir": str(data_dir),
            "optim.lr": 0.0,
            "train.steps": 3,
            "pruning.rounds": 2,
        },
    )
    train.run(cfg, tmp_path / "w", quiet=True)
    init = jax.tree.map(np.asarray, model_dir.load_model(tmp_path / "w" / "init")[1])
    m2 = masks_lib.load(tmp_path / "w" / "round_02" / "masks.npz")
    want = jax.tree.map(np.asarray, masks_lib.apply_masks(init, m2))
    jax.tree.map(np.testing.assert_array_equal, _final(tmp_path / "w", 2), want)


@pytest.mark.parametrize("method", ["upru", "dupru"])
def test_rounds_prune_nested_masks_and_report(data_dir, tmp_path, method):
    cfg = _cfg(method, **{"data.data_dir": str(data_dir), "eval.every": 40})
    reports = train.run(cfg, tmp_path / "w", quiet=True)
    assert [r["round"] for r in reports] == [1, 2, 3]
    sp = [r["sparsity"] for r in reports]
    assert sp[0] == 0 and sp[1] == pytest.approx(0.3, abs=0.01)
    assert sp[2] == pytest.approx(1 - 0.7**2, abs=0.01)
    prev = None
    for rnd in (1, 2, 3):
        m = masks_lib.load(tmp_path / "w" / f"round_{rnd:02d}" / "masks.npz")
        final = traverse_util.flatten_dict(_final(tmp_path / "w", rnd))
        for k, mk in traverse_util.flatten_dict(m).items():
            assert np.all(final[k][~mk] == 0.0)  # masked weights exactly 0 after training
            if prev is not None:
                assert not np.any(mk & ~prev[k])  # masks only shrink
        prev = traverse_util.flatten_dict(m)
        # the exported model carries its masks; it loads plainly (no method code)
        exported = model_dir.load_masks(tmp_path / "w" / f"round_{rnd:02d}" / "final_model")
        jax.tree.map(np.testing.assert_array_equal, exported, m)
    assert all("Demo/psnr_y" in r["eval"] for r in reports)
    saved = json.loads((tmp_path / "w" / "stages.json").read_text())
    assert [r["round"] for r in saved] == [1, 2, 3] and saved[1]["thresholds"]
    # a finished run is skipped on restart
    t = time.perf_counter()
    again = train.run(cfg, tmp_path / "w", quiet=True)
    assert again == saved and time.perf_counter() - t < 30


def test_configs_document_the_recipe():
    up = load_sibling(str(REPO / "configs" / "upru.py"), "upru.py").get_config()
    du = load_sibling(str(REPO / "configs" / "dupru.py"), "dupru.py").get_config()
    assert up.method == "upru" and du.method == "dupru"
    assert up.pruning.freeze_eps == 0 and du.pruning.freeze_eps > 0
    assert (du.data.hr_patch, du.optim.lr, du.optim.eps, du.train.loss) == (96, 1e-4, 1e-9, "mse")
    assert 1 - (1 - du.pruning.percent / 100) ** (du.pruning.rounds - 1) == pytest.approx(
        0.0795, abs=1e-3
    )
    rf = load_sibling(str(REPO / "configs" / "dupru.py"), "dupru.py").get_config("rfdn")
    assert rf.model.name == "rfdn" and rf.init_from.endswith("rfdn_x4.pth")
    demo = load_sibling(str(REPO / "configs" / "dupru.py"), "dupru.py").get_config("demo")
    assert "samples" in demo.data.train.splits["train"][0][0]


def test_late_rewinding_continues_from_step_k(data_dir, tmp_path):
    from jaxsr.checkpoints import Checkpointer
    from jaxsr.methods.magnitude import MagnitudePruning
    from jaxsr.metric_writer import read_metrics

    cfg = _cfg(
        "upru",
        **{
            "data.data_dir": str(data_dir),
            "train.steps": 20,
            "pruning.rounds": 2,
            "pruning.rewind_step": 10,
            "ckpt.keep": 1,
        },
    )
    train.run(cfg, tmp_path / "w", quiet=True)
    point = json.loads((tmp_path / "w" / "rewind" / "point.json").read_text())
    assert point["step"] == 10 and point["data_state"]
    # the rewind point is round 1's step-10 checkpoint, kept despite keep=1
    ck = Checkpointer(tmp_path / "w" / "round_01" / "checkpoints", 1, 1)
    assert 10 in ck.all_steps()
    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    m1 = masks_lib.load(tmp_path / "w" / "round_01" / "masks.npz")
    like = train.state_template(cfg, model, MagnitudePruning("upru", m1))
    state, data_state, _ = ck.restore(10, like)
    ck.close()
    assert data_state == point["data_state"]
    rewind = model_dir.load_model(tmp_path / "w" / "rewind")[1]
    jax.tree.map(
        np.testing.assert_array_equal,
        jax.tree.map(np.asarray, state.params),
        jax.tree.map(np.asarray, rewind),
    )
    steps = [r["step"] for r in read_metrics(tmp_path / "w" / "round_02") if r["kind"] == "train"]
    assert steps == list(range(11, 31))  # schedule and data continue from k = 10
