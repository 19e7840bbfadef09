"""The method interface, the registry, the stage driver, one-shot N:M and SR-STE."""

from __future__ import annotations

import copy
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
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr import methods, model_dir, models, train
from jaxsr.configs_lib import load_sibling, parse_arg
from jaxsr.methods.base import Method, Stage, Start
from jaxsr.methods.nm_oneshot import NMOneShot
from jaxsr.methods.sr_ste import SRSTE
from jaxsr.metric_writer import read_metrics
from jaxsr.optim import make_optimizer
from jaxsr.sparsity.nm import nm_mask, nonzeros_per_group

from .conftest import REPO, flat_params, tiny_config

TINY_NM = REPO / "tests" / "configs" / "tiny_nm.py"
TINY = REPO / "tests" / "configs" / "tiny.py"


def tiny_nm(arg: str | None = None, data_dir: Path | None = None):
    return tiny_config("tiny_nm", arg, data_dir)


_flat = flat_params


# ---------------------------------------------------------------- registry and configs


def test_registry_unknown_method_is_one_line_listing_known():
    c = tiny_nm()
    c.method = "nope"
    with pytest.raises(ValueError) as e:
        train.run(c, "/nonexistent/never/created")
    msg = str(e.value)
    assert "\n" not in msg and "unknown config.method 'nope'" in msg
    for name in ("dense", "dupru", "nm_oneshot", "sr_ste", "upru"):
        assert name in msg
    assert not Path("/nonexistent/never/created").exists()


@pytest.mark.parametrize("name", methods.known())
def test_every_method_spec_is_complete_and_its_section_keys_are_checked(name):
    """Every registered method: a spec naming a config file with a :demo variant that trains
    it, a paper file of ../shared/papers, and its section's keys checked in one place."""
    s = methods.spec(name)
    assert s.name == name and s.title and s.exports and s.model_kind in ("sr", "estimator")
    assert s.paper == "-" or s.paper.split()[0] in {
        "dupru_informatica2024.md",
        "sls_cvpr2022.md",
        "fmp_supplementary.md",
    }
    cfg = load_sibling(str(REPO / s.config), Path(s.config).name).get_config("demo")
    assert cfg.method == name
    if s.section is None:
        assert s.default_config() is None
        return
    assert s.default_config() is not s.default_config()  # a fresh copy each time
    key = sorted(cfg[s.section])[0]
    c = copy.deepcopy(cfg)
    c[s.section].unknown_key = 1  # a misspelt key would otherwise be ignored
    with pytest.raises(ValueError) as e:
        methods.recipe(c)
    assert str(e.value).startswith(f"config.{s.section}.unknown_key: unknown key for method")
    c = copy.deepcopy(cfg)
    del c[s.section][key]
    with pytest.raises(ValueError, match=rf"^config.{s.section}.{key} is missing \(see "):
        methods.recipe(c)


def test_nested_section_keys_are_checked_too():
    """adaptive.pretrain_model is a sub-section: a misspelt key in it is an error; its
    free-form `overrides` (an empty default) takes any key."""
    from jaxsr.methods.spec import check_section

    s = methods.spec("mse_estimator")
    cfg = ml_collections.ConfigDict({"adaptive": s.default_config()})
    cfg.adaptive.pretrain_model.overrides = {"num_feat": 8}
    check_section(s, cfg)
    cfg.adaptive.pretrain_model.nmae = "rfdn"
    with pytest.raises(ValueError, match=r"^config.adaptive.pretrain_model.nmae: unknown key"):
        check_section(s, cfg)


def test_readme_method_table_is_the_registry():
    assert methods.markdown_table() in (REPO / "README.md").read_text()


def test_method_without_its_config_section_is_an_error():
    c = load_sibling(str(TINY), "tiny.py").get_config()
    c.method = "sr_ste"
    with pytest.raises(ValueError, match=r"config.method='sr_ste' needs config.nm"):
        methods.recipe(c)


def test_nm_config_errors_name_the_key():
    c = tiny_nm()
    c.nm.n = 5
    with pytest.raises(ValueError, match=r"nm: N=5 for .* must be in \[1, M=4\]"):
        methods.recipe(c)
    c = tiny_nm()
    c.nm.rules = (r"conv_first/bias",)
    with pytest.raises(ValueError, match="N:M needs a conv kernel"):
        methods.recipe(c)
    c = tiny_nm()
    c.nm.layer_n = ("body_0",)
    with pytest.raises(ValueError, match=r"nm.layer_n entry 'body_0': expected a \(regex, n\)"):
        methods.recipe(c)
    c = tiny_nm()
    c.method = "sr_ste"  # an nm section made for nm_oneshot has no decay
    with pytest.raises(ValueError, match=r"config.nm.decay is missing \(see .*'sr_ste'"):
        methods.recipe(c)
    c = tiny_nm()
    c.nm.rules = ((r".*/kernel",),)
    with pytest.raises(ValueError, match=r"expected a regex or a \(regex, bool\) pair"):
        methods.recipe(c)
    c = tiny_nm()
    c.nm.layer_n = ((r"body_0/.*", 1),)  # per-layer N: first matching (regex, n) wins
    from jaxsr.methods.nm_common import layers as nm_layers

    got = nm_layers(c)
    assert got["body_0/conv1/kernel"] == (1, 4) and got["body_1/conv1/kernel"] == (2, 4)
    assert "conv_first/kernel" not in got and "conv_last/kernel" not in got


def test_parse_arg_types_flags_and_errors():
    a = parse_arg("model=rfdn,n=4,demo", model="", n=2, demo=False, lr=1e-4)
    assert (a.model, a.n, a.demo, a.lr) == ("rfdn", 4, True, 1e-4)
    assert parse_arg(None, n=2).n == 2
    with pytest.raises(ValueError, match="unknown config argument 'budget'; known: demo, n"):
        parse_arg("budget=0.1", n=2, demo=False)
    with pytest.raises(ValueError, match=r"config argument n='x': expected int"):
        parse_arg("n=x", n=2)
    with pytest.raises(ValueError, match=r"config argument 'n' needs a value"):
        parse_arg("n", n=2)


def test_nm_configs_and_variants():
    for name, method in (("nm_oneshot", "nm_oneshot"), ("sr_ste", "sr_ste")):
        mod = load_sibling(str(REPO / "configs" / f"{name}.py"), f"{name}.py")
        demo = mod.get_config("demo")
        assert demo.method == method and demo.nm.pretrain_steps == 300
        assert "samples" in demo.data.train.splits["train"][0][0] and not demo.init_from
        rf = mod.get_config("model=rfdn,n=4,m=32")
        assert rf.model.name == "rfdn" and rf.init_from.endswith("rfdn_x4.pth")
        assert (rf.nm.n, rf.nm.m, rf.nm.pretrain_steps) == (4, 32, 0)
        cm = mod.get_config("model=carn_m,demo")
        assert cm.init_from.endswith("carn_m_x234.pth") and cm.train.steps == 200
        methods.recipe(rf)
        methods.recipe(cm)
        with pytest.raises(ValueError, match="model='edsr'; known"):
            mod.get_config("model=edsr")
        with pytest.raises(ValueError, match="model=msrresnet,demo: no published MSRResNet"):
            mod.get_config("model=msrresnet,demo")
        assert mod.get_config("demo,steps=50").train.steps == 50
        assert mod.get_config("model=rfdn").train.steps == 2000
        ms = mod.get_config("model=msrresnet,steps=30")
        assert ms.nm.pretrain_steps == 30 and not ms.init_from
    # SR-STE from scratch (the SLS protocol): seeded init, pretrain + prune steps, one stage
    srste = load_sibling(str(REPO / "configs" / "sr_ste.py"), "sr_ste.py")
    for model in ("rfdn", "msrresnet"):
        sc = srste.get_config(f"model={model},n=2,m=32,steps=30,scratch")
        assert not sc.init_from and sc.train.steps == 60 and sc.nm.pretrain_steps == 0
        assert tuple(sc.optim.milestones) == (40,)
        assert [s.name for s in methods.recipe(sc)] == [""]
    one = load_sibling(str(REPO / "configs" / "nm_oneshot.py"), "nm_oneshot.py")
    with pytest.raises(ValueError, match="scratch: only SR-STE"):
        one.get_config("model=rfdn,scratch")
    with pytest.raises(ValueError, match="scratch,demo"):
        srste.get_config("demo,scratch")
    assert methods.default_config("sr_ste").decay == 2e-4
    from configs import dupru, sr_ste  # the config files import as modules too

    assert sr_ste.get_config("demo").method == "sr_ste"
    assert dupru.get_config("demo").pruning.freeze_eps == 1e-3


def test_cli_bad_method_is_one_line_before_compute(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.train",
            f"--config={TINY_NM}",
            "--config.method=magic",
            f"--workdir={tmp_path / 'w'}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 2  # a bad config value
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: unknown config.method 'magic'; known: dense, dupru")
    assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------- the interface


class _Toy(Method):
    """Trainable {"model", "gain"}; state: a counter bumped every 3 steps under lax.cond;
    an auxiliary loss on the gain; the gain has its own (zero-momentum SGD) optimizer."""

    def init(self, params, rng):
        return {"model": params, "gain": jnp.ones(())}, {"bumps": jnp.zeros((), jnp.int32)}

    def model_params(self, trainable, state):
        return jax.tree.map(lambda w: w * trainable["gain"], trainable["model"])

    def aux_loss(self, trainable, state, step):
        reg = 0.01 * jnp.square(trainable["gain"] - 2.0)
        return reg, {"gain": trainable["gain"], "bumps": state["bumps"].astype(jnp.float32)}

    def optimizer(self, base):
        labels = {"model": "model", "gain": "gain"}
        return optax.partition({"model": base, "gain": optax.sgd(0.5)}, labels)

    def update_state(self, trainable, state, step):
        bump = jax.lax.cond(step % 3 == 0, lambda: 1, lambda: 0)
        return {"bumps": state["bumps"] + bump}


def test_interface_trainables_state_aux_loss_partition_and_export(data_dir, tmp_path):
    c = load_sibling(str(TINY), "tiny.py").get_config()
    c.data.data_dir, c.train.steps = str(data_dir), 7
    train.fit(c, tmp_path / "w", _Toy(name="toy"), quiet=True)
    recs = [r for r in read_metrics(tmp_path / "w") if r["kind"] == "train"]
    # state updated inside the jitted step: after step s the counter is s // 3
    assert [int(r["bumps"]) for r in recs] == [s // 3 for s in range(0, 7)]
    assert all("task_loss" in r and r["loss"] > r["task_loss"] for r in recs)
    # the gain follows its own SGD(0.5) on d/dgain (task + 0.01 (g-2)^2): it moves off 1.0
    assert recs[-1]["gain"] != 1.0
    # the exported model is the reparametrised one: model params * gain, loadable plainly
    ck = train.Checkpointer(tmp_path / "w" / "checkpoints", 1, 1)
    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    state, _, _ = ck.restore(7, train.state_template(c, model, _Toy(name="toy")))
    ck.close()
    assert int(state.extra["bumps"]) == 2
    _, exported, _ = model_dir.load_model(tmp_path / "w" / "final_model")
    want = jax.tree.map(lambda w: w * state.params["gain"], state.params["model"])
    jax.tree.map(np.testing.assert_array_equal, exported, jax.device_get(want))


def test_stage_driver_runs_skips_and_passes_outputs(data_dir, tmp_path):
    seen = []

    def first(ctx):
        seen.append(("a", ctx.index, ctx.previous))
        return Start(Method())

    def second(ctx):
        seen.append(("b", ctx.index, ctx.previous))
        p = model_dir.load_params(ctx.previous[-1] / "final_model", _tiny_model())
        return Start(Method(), p, step=3)

    def third(ctx):  # model surgery: the last stage trains a narrower model from scratch
        return Start(Method(), overrides={"num_feat": 4, "num_block": 1})

    stages = [
        Stage("a", 3, first),
        Stage("b", 2, second, lambda ctx, s: {"x": 1}),
        Stage("c", 1, third),
    ]
    mod = type(sys)("fake_method")
    mod.SPEC = methods.MethodSpec("fake", "a test recipe", "-", "-", "params", lambda c: stages)
    sys.modules["fake_method"] = mod
    methods.register("fake", "fake_method")  # the module's SPEC
    c = load_sibling(str(TINY), "tiny.py").get_config()
    c.data.data_dir, c.method = str(data_dir), "fake"
    reps = train.run(c, tmp_path / "w", quiet=True)
    assert [r["stage"] for r in reps] == ["a", "b", "c"] and reps[1]["x"] == 1
    meta = model_dir.read_meta(tmp_path / "w" / "c" / "final_model")
    assert meta["overrides"] == {"num_feat": 4, "num_block": 1}
    assert model_dir.load_model(tmp_path / "w" / "c" / "final_model")[1]["conv_first"][
        "kernel"
    ].shape == (3, 3, 3, 4)
    assert json.loads((tmp_path / "w" / "stages.json").read_text()) == reps
    # stage b started at step 3 and trained 2 steps: its schedule/step counter continue
    steps = [r["step"] for r in read_metrics(tmp_path / "w" / "b") if r["kind"] == "train"]
    assert steps == [4, 5]
    seen.clear()
    assert train.run(c, tmp_path / "w", quiet=True) == reps  # finished: nothing re-runs
    assert seen == []
    c.seed = 1  # another recipe in a started workdir: one line, nothing reused silently
    with pytest.raises(ValueError, match=r"was started with seed=0, not 1; use a new --workdir"):
        train.run(c, tmp_path / "w", quiet=True)


def _tiny_model():
    return models.create("msrresnet", 2, num_feat=8, num_block=1)


# ---------------------------------------------------------------- N:M invariants


_shapes = st.tuples(
    st.sampled_from([1, 3]),  # kh = kw
    st.integers(1, 13),  # input channels (per conv group)
    st.integers(1, 5),  # output channels
    st.sampled_from([1, 2, 4, 8]),  # M
).flatmap(lambda s: st.tuples(st.just(s), st.integers(1, s[3]), st.integers(0, 2**16)))


# the hypothesis tests run their transforms jitted, as the train step does: one compile per
# drawn shape instead of one per eager op
_nm_mask = jax.jit(nm_mask, static_argnums=(1, 2))
_per_group = jax.jit(nonzeros_per_group, static_argnums=1)


@pytest.mark.slow
@settings(deadline=None, max_examples=12)  # one compile per drawn shape
@given(_shapes)
def test_oneshot_groups_keep_at_most_n_after_every_step(args):
    (k, cin, cout, m), n, seed = args
    rng = np.random.default_rng(seed)
    params = {"conv": {"kernel": jnp.asarray(rng.normal(size=(k, k, cin, cout)), jnp.float32)}}
    method = NMOneShot(layers={"conv/kernel": (n, m)})
    trainable, state = method.init(params, jax.random.PRNGKey(0))
    ocfg = ml_collections.ConfigDict(
        {"lr": 0.1, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "schedule": "constant"}
    )
    tx = method.optimizer(make_optimizer(ocfg))
    opt = tx.init(trainable)
    mask0 = np.asarray(_nm_mask(params["conv"]["kernel"], n, m))

    @jax.jit
    def step(g, opt, trainable, state):
        upd, opt = tx.update(g, opt, trainable, **state)
        return optax.apply_updates(trainable, upd), opt

    for _ in range(4):
        g = {"conv": {"kernel": jnp.asarray(rng.normal(size=(k, k, cin, cout)), jnp.float32)}}
        trainable, opt = step(g, opt, trainable, state)
        w = trainable["conv"]["kernel"]
        assert int(_per_group(w, m).max()) <= n
        assert np.all(np.asarray(w)[~mask0] == 0)  # exactly the one-shot mask's zeros


@pytest.mark.slow
@settings(deadline=None, max_examples=12)  # one compile per drawn shape
@given(_shapes)
def test_sr_ste_forward_is_exactly_masked_and_gradient_is_the_formula(args):
    (k, cin, cout, m), n, seed = args
    rng = np.random.default_rng(seed)
    w = jnp.asarray(rng.normal(size=(k, k, cin, cout)), jnp.float32)
    c = jnp.asarray(rng.normal(size=w.shape), jnp.float32)
    lam = 2e-4
    method = SRSTE(layers={"conv/kernel": (n, m)}, decay=lam)
    params = {"conv": {"kernel": w}}
    fwd = jax.jit(method.model_params)(params, {})["conv"]["kernel"]
    mask = np.asarray(_nm_mask(w, n, m))
    assert int(_per_group(fwd, m).max()) <= n
    np.testing.assert_array_equal(np.asarray(fwd), np.where(mask, np.asarray(w), 0))

    # loss = sum(c * masked(w)): straight-through d/dw = c everywhere; SR-STE then adds
    # lam * (1 - mask) * w; plain SGD(1) exposes the gradient that reaches the optimizer
    def loss(p):
        return jnp.sum(c * method.model_params(p, {})["conv"]["kernel"])

    grads = jax.jit(jax.grad(loss))(params)
    np.testing.assert_array_equal(np.asarray(grads["conv"]["kernel"]), np.asarray(c))
    tx = method.optimizer(optax.sgd(1.0))
    upd, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    want = -(np.asarray(c) + np.float32(lam) * np.where(mask, 0, np.asarray(w)))
    np.testing.assert_allclose(np.asarray(upd["conv"]["kernel"]), want, rtol=1e-6, atol=1e-9)
    exported = method.export(params, {})
    np.testing.assert_array_equal(np.asarray(exported.params["conv"]["kernel"]), np.asarray(fwd))
    np.testing.assert_array_equal(np.asarray(exported.masks["conv"]["kernel"]), mask)


# ---------------------------------------------------------------- end to end


def _check_exported_nm(directory: Path, n: int, m: int) -> None:
    params = _flat(model_dir.load_model(directory)[1])
    masks = _flat(model_dir.load_masks(directory))
    assert set(masks) == {
        "body_0/conv1/kernel",
        "body_0/conv2/kernel",
        "body_1/conv1/kernel",
        "body_1/conv2/kernel",
        "conv_hr/kernel",
        "upconv1/kernel",
    }
    for path, mask in masks.items():
        w = params[path]
        assert int(nonzeros_per_group(jnp.asarray(w), m).max()) <= n
        assert np.all(w[~mask] == 0) and mask.sum() == w.size * n // m


@pytest.mark.slow
@pytest.mark.parametrize("arg", ["", "sr_ste"])
def test_nm_methods_end_to_end_and_exported_model_evaluates_plainly(data_dir, tmp_path, arg):
    c = tiny_nm(arg, data_dir)
    c.eval.every = 6
    reps = train.run(c, tmp_path / "w", quiet=True)
    assert [r["stage"] for r in reps] == ["pretrain", "finetune"]
    assert reps[1]["sparsity"] == pytest.approx(0.5)
    c.nm.n = 1
    with pytest.raises(ValueError, match=r"started with nm.n=2, not 1"):
        train.run(c, tmp_path / "w", quiet=True)
    final = tmp_path / "w" / "finetune" / "final_model"
    _check_exported_nm(final, 2, 4)
    # the fine-tune started from the pretrain stage's final model (one-shot: masked)
    if not arg:
        pre = _flat(model_dir.load_model(tmp_path / "w" / "pretrain" / "final_model")[1])
        m0 = np.asarray(nm_mask(jnp.asarray(pre["body_0/conv1/kernel"]), 2, 4))
        np.testing.assert_array_equal(_flat(model_dir.load_masks(final))["body_0/conv1/kernel"], m0)
    # evaluate and complexity read the model dir with no method code
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.evaluate",
            f"--weights={final}",
            f"--data={REPO / 'jaxsr' / 'data' / 'samples'}",
            "--sets=Demo",
            f"--json={tmp_path / 'eval.json'}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads((tmp_path / "eval.json").read_text())
    assert got["sets"]["Demo"]["psnr_y"] == pytest.approx(reps[1]["eval"]["Demo/psnr_y"], abs=1e-4)
    r = subprocess.run(
        [sys.executable, "-m", "jaxsr.complexity", f"--weights={final}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "body_0/conv1" in r.stdout and "2:4" in r.stdout


def test_nm_on_grouped_convs_stays_within_each_conv_group():
    """CARN-M's grouped convs (groups=4): kernels are HWIO with I = channels per group, so
    N:M groups never mix conv groups; one-shot and SR-STE keep <= N per group and run."""
    from jaxsr.sparsity import prunable_paths
    from jaxsr.sparsity.selection import ALL_BUT_ENDS_RULES

    module = models.create("carn_m", 2)
    params = jax.device_get(models.init_params(module, jax.random.PRNGKey(0)))
    paths = prunable_paths(params, ALL_BUT_ENDS_RULES["carn_m"])
    flat = _flat(params)
    grouped = [p for p in paths if flat[p].shape[2] == 16]  # 64 channels / 4 groups
    assert grouped
    layers = dict.fromkeys(paths, (2, 8))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(1, 12, 12, 3)), jnp.float32)
    for method in (NMOneShot(layers=layers), SRSTE(layers=layers)):
        trainable, state = method.init(params, jax.random.PRNGKey(0))
        seen = _flat(method.model_params(trainable, state))
        exported = method.export(trainable, state)
        for p in grouped:
            w = jnp.asarray(seen[p])
            assert int(nonzeros_per_group(w, 8).max()) <= 2
            assert int(jnp.sum(w != 0)) * 4 == w.size  # exactly 2 of every 8, per conv group
        y = module.apply({"params": exported.params}, x)
        assert y.shape == (1, 24, 24, 3) and bool(jnp.all(jnp.isfinite(y)))


def test_zero_step_stage_exports_its_start_point(data_dir, tmp_path):
    """train.steps=0: the fine-tune stage trains nothing; its model is the one-shot N:M masked
    pretrain model, evaluated once at the start step, with no checkpoint; a rerun skips it."""
    c = tiny_nm(None, data_dir)
    c.train.steps = 0
    reps = train.run(c, tmp_path / "w", quiet=True)
    assert [r["stage"] for r in reps] == ["pretrain", "finetune"]
    ft = tmp_path / "w" / "finetune"
    pre = _flat(model_dir.load_model(tmp_path / "w" / "pretrain" / "final_model")[1])
    got = _flat(model_dir.load_model(ft / "final_model")[1])
    masks = _flat(model_dir.load_masks(ft / "final_model"))
    assert set(got) == set(pre)
    for k, w in pre.items():
        want = w * np.asarray(nm_mask(jnp.asarray(w), 2, 4)) if k in masks else w
        np.testing.assert_array_equal(got[k], want, err_msg=k)
    summ = json.loads((ft / "summary.json").read_text())
    assert summ["steps"] == summ["first_step"] == 0
    assert summ["final_eval"] == reps[1]["eval"] and "Demo/psnr_y" in summ["final_eval"]
    evals = [r for r in read_metrics(ft) if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0]
    assert not list((ft / "checkpoints").glob("[0-9]*"))
    before = (ft / "final_model" / "jaxsr_model.json").stat().st_mtime_ns
    train.run(c, tmp_path / "w", quiet=True)  # finished: skipped, nothing rewritten
    assert (ft / "final_model" / "jaxsr_model.json").stat().st_mtime_ns == before
    c.train.steps = -1
    with pytest.raises(ValueError, match=r"train.steps=-1 must be >= 0"):
        train.run(c, tmp_path / "w2", quiet=True)
