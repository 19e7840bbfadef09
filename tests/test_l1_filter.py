"""L1-norm filter pruning: ranking, budget, surgery into a smaller model, fine-tuning."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsr import complexity, model_dir, models, startpoints, train
from jaxsr.channels import l1, trace
from jaxsr.configs_lib import load_sibling
from jaxsr.methods import l1_filter
from jaxsr.train import stages

from .conftest import REPO, flat_params, tiny_config, with_overrides

TINY_L1 = REPO / "tests" / "configs" / "tiny_l1.py"


def _random_params(model, seed=0):
    shapes, tree = jax.tree.flatten(models.abstract_params(model))
    rng = np.random.default_rng(seed)
    return tree.unflatten([rng.standard_normal(s.shape, np.float32) for s in shapes])


def test_fit_fraction_against_a_closed_form():
    cost = lambda f: 100.0 * np.floor(10 * f) / 10  # noqa: E731  (a step function)
    f = l1.fit_fraction(cost, 55.0)
    assert 0.59 < f < 0.6 and cost(f) == 50.0
    assert l1.fit_fraction(cost, 100.0) == 1.0
    with pytest.raises(ValueError, match="below what the kept minimum costs"):
        l1.fit_fraction(lambda f: 10.0 + f, 5.0)


@pytest.mark.parametrize("arg", ["", "rfdn,upsampler", "li", "rfdn,li,upsampler"])
def test_plan_keeps_the_top_l1_units_and_meets_the_budget(arg):
    cfg = tiny_config("tiny_l1", arg)
    model = startpoints.build_model(cfg)
    params = _random_params(model)
    p = l1_filter.plan(cfg, params)
    target = float(cfg.l1.target)
    assert p["macs"] <= target * p["dense_macs"]
    assert p["macs"] == pytest.approx(p["target_macs"], 0.2)
    flat = flat_params(params)
    graph = trace(model)
    for name, kept in p["keep"].items():  # re-rank every group by hand: L1 of its filters
        g = graph.group(name)
        score = [
            sum(np.abs(flat[k][..., g.index[(k, 3)][u]]).sum() for k in g.producers)
            for u in range(g.size)
        ]
        n = max(2, round(p["fraction"] * g.size))
        assert sorted(kept) == sorted(np.argsort(score)[::-1][:n].tolist()), name
        assert g.kind != "fixed"  # the image's channels: never
    tied = [g.name for g in graph.groups if g.kind == "internal" and len(g.producers) > 1]
    assert tied  # a residual trunk exists in both models
    if "li" in arg:  # Li et al.: per-layer ranking, the residual trunk stays dense
        assert p["scheme"] == "li" and not set(tied) & set(p["keep"])
        assert all(len(graph.group(n).producers) == 1 for n in p["keep"])
    else:
        assert p["scheme"] == "joint" and set(tied) <= set(p["keep"])
    # the image-writing conv keeps all of its output channels, and nothing is masked
    pruned, over = l1_filter.apply_plan(cfg, params, p)
    small = models.create(cfg.model.name, cfg.model.scale, **over)
    out = small.apply({"params": pruned}, jnp.zeros((1, 24, 24, 3)))  # RFDN's ESA: >= 15
    assert out.shape == (1, 48, 48, 3)
    # the pruned model costs what jaxsr.complexity counts for it
    costs = complexity.conv_costs(small, complexity.hd_lr_shape(cfg.model.scale))
    assert sum(costs.values()) == pytest.approx(p["macs"], rel=1e-9)
    assert models.num_params(pruned) == p["params"]


def test_sls_edsr_row_params_and_upsampler_groups():
    """SLS Table 2, L1-norm filter pruning of EDSR-baseline x4 at 1/4: 380.93K params."""
    cfg = load_sibling(str(REPO / "configs" / "l1_filter.py"), "l1_filter.py").get_config(
        "sls_edsr"
    )
    model = startpoints.build_model(cfg)
    p = l1_filter.plan(cfg, models.init_params(model, 0))
    assert p["params"] == pytest.approx(380.93e3, rel=0.01)
    assert p["fraction"] == 0.5 and p["dense_params"] == 1_517_571
    assert p["macs"] / p["dense_macs"] == pytest.approx(0.25, abs=0.01)
    graph = trace(model)
    sub = [g.name for g in graph.groups if g.kind == "subpixel"]
    assert sub and set(sub) <= set(p["keep"])  # the upsampler's groups are halved too
    assert all(len(p["keep"][n]) == p["sizes"][n] // 2 for n in p["keep"])


def test_l1_scheme_and_fraction_checked_before_compute():
    cfg = tiny_config("tiny_l1")
    for over, msg in [
        ({"l1.scheme": "filters"}, "l1.scheme='filters'; known: li, joint"),
        ({"l1.fraction": 1.5}, r"l1.fraction=1.5 must be in \[0, 1\]"),
        ({"l1.scheme": "li", "l1.rules": (("conv_first", True), (".*", False))}, "all tied"),
    ]:
        with pytest.raises(ValueError, match=msg):
            stages.check(with_overrides(tiny_config("tiny_l1"), **over))
    with pytest.raises(ValueError, match="masks image-channel filters"):
        l1_filter.apply_plan(cfg, {}, {"filters": {"conv_last/kernel": [0, 1]}})


def test_bad_config_is_rejected_before_compute():
    cfg = tiny_config("tiny_l1")
    for over, msg in [
        ({"l1.target": 0.0}, r"l1.target=0.0 must be in \(0, 1\]"),
        ({"l1.rules": ((".*", False),)}, "select no prunable group"),
        ({"l1.rules": (("fea_cnv", False), (".*", True))}, "channel rule 'fea_cnv' matches no"),
        ({"l1.min_channels": 0}, "l1.min_channels=0 must be >= 1"),
    ]:
        with pytest.raises(ValueError, match=msg):
            stages.check(with_overrides(tiny_config("tiny_l1"), **over))
    cfg.l1.traget = 0.3
    with pytest.raises(ValueError, match="config.l1.traget: unknown key"):
        stages.check(cfg)


def test_end_to_end_smaller_model(data_dir, tmp_path):
    """Pretrain, plan, surgery, fine-tune: the exported model is physically smaller (kill and
    resume of the fine-tuning: tests/test_resume.py)."""
    train.run(tiny_config("tiny_l1", "steps=12", data_dir), tmp_path / "ref", quiet=True)
    rep = json.loads((tmp_path / "ref" / "finetune" / "report.json").read_text())
    assert rep["gmacs"] <= 0.5 * rep["dense_gmacs"] and rep["params"] < rep["dense_params"]
    # the exported model is an ordinary registry model with smaller convs: no method code
    d = tmp_path / "ref" / "finetune" / "final_model"
    module, params, meta = model_dir.load_model(d)
    assert meta["overrides"]["widths"] == rep["widths"] and rep["widths"]
    for conv, width in rep["widths"].items():
        assert flat_params(params)[f"{conv}/kernel"].shape[-1] == width
    assert module.apply({"params": params}, jnp.zeros((1, 8, 8, 3))).shape == (1, 16, 16, 3)
    r = subprocess.run(
        [sys.executable, "-m", "jaxsr.complexity", f"--weights={d}"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0 and f"{rep['gmacs']:.2f} GMACs" in r.stdout, r.stderr[-2000:]
