"""SLS adaptive inference: eq. 8, tiles, the ensemble, estimator training, evaluate/upscale."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr import model_dir, models
from jaxsr.adaptive import Ensemble, Grid, bicubic, choose, log_mse_error, router, tiles
from jaxsr.adaptive.ensemble import Candidate
from jaxsr.configs_lib import SAMPLES
from jaxsr.data.imresize import upscale as upscale_uint8

from .conftest import REPO


# ---- eq. 8 -------------------------------------------------------------------------------
def test_eq8_hand_computed():
    costs = [10.0, 5.0, 1.0]
    f = np.array([[1.0, 2.0, 4.0]])
    # beta 0: .75, .5, 0 -> 0; beta 1: .75, 1.0, .9 -> 1; beta 10: .75, 5.5, 9 -> 2
    assert [int(choose(costs, f, b)[0]) for b in (0.0, 1.0, 10.0)] == [0, 1, 2]
    np.testing.assert_allclose(router.scores(costs, f, 1.0), [[0.75, 1.0, 0.9]])
    # the order of the candidates does not matter; the index refers to the given order
    perm = [2, 0, 1]
    assert [int(choose(np.take(costs, perm), f[:, perm], b)[0]) for b in (0.0, 1.0, 10.0)] == [
        1,
        2,
        0,
    ]
    # f_n is the cheapest candidate's estimate: here the middle column
    s = router.scores([5.0, 10.0, 1.0], np.array([[2.0, 1.0, 4.0]]), 0.5)
    np.testing.assert_allclose(s, [[0.25 + 0.5, 0.75, 0.45]])


def test_eq8_ties_go_to_the_costlier_and_jnp_agrees():
    costs = [4.0, 2.0, 1.0]
    f = np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 3.0]])
    # beta 0, equal estimates: every score 0 -> the costliest; row 2: candidate 0 is best
    np.testing.assert_array_equal(choose(costs, f, 0.0), [0, 0])
    rng = np.random.default_rng(0)
    f = rng.uniform(0.001, 0.1, (50, 3))
    for b in (0.0, 0.3, 3.0):
        np.testing.assert_array_equal(
            choose(costs, f, b), np.asarray(choose(costs, jnp.asarray(f), b))
        )


# ---- tiles ---------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(5, 70),
    w=st.integers(5, 70),
    core=st.integers(2, 20),
    context=st.integers(0, 6),
    blend=st.integers(0, 6),
    scale=st.sampled_from([1, 2, 3, 4]),
)
def test_tiles_weights_sum_to_one_and_pointwise_models_are_exact(h, w, core, context, blend, scale):
    blend = min(blend, context, core // 2)
    g = Grid(h, w, core, context, blend, scale)
    rng = np.random.default_rng(h * 1000 + w)
    lr = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    win = g.extract(lr)
    assert win.shape == (g.shape[0] * g.shape[1], g.window, g.window, 3)
    ones = g.assemble(np.ones((len(win), g.window * scale, g.window * scale, 1), np.float32))
    np.testing.assert_allclose(ones, 1.0, atol=1e-6)
    # a model with no spatial context (nearest upscaling) is reproduced exactly by the tiles
    near = np.repeat(np.repeat(win, scale, 1), scale, 2)
    whole = np.repeat(np.repeat(lr, scale, 0), scale, 1)
    np.testing.assert_allclose(g.assemble(near), whole, atol=1e-6)
    # the cores partition the image: each tile's core is one constant block of the map
    n = g.shape[0] * g.shape[1]
    assert g.shape == (-(-h // core), -(-w // core))  # no tile lies wholly in the padding
    cover = g.expand(np.arange(n).reshape(g.shape))
    assert cover.shape == (h * scale, w * scale)
    np.testing.assert_array_equal(np.unique(cover), np.arange(n))
    counts = np.bincount(cover.ravel(), minlength=n)
    sizes = [
        (min(r.stop, h) - r.start) * (min(c.stop, w) - c.start) * scale * scale
        for r in g.rows
        for c in g.cols
    ]
    np.testing.assert_array_equal(counts, sizes)


def test_batches_hand_computed():
    assert tiles.batches(37, 16) == [(0, 16, 16), (16, 32, 16), (32, 37, 8)]
    assert tiles.batches(1, 16) == [(0, 1, 8)]
    assert tiles.batches(16, 16) == [(0, 16, 16)]
    assert tiles.batches(3, 4, 2) == [(0, 3, 4)]
    assert tiles.batches(130, 128) == [(0, 128, 128), (128, 130, 8)]
    assert tiles.batches(57, 128) == [(0, 57, 64)]
    with pytest.raises(ValueError, match="blend=5"):
        Grid(40, 40, 8, 6, 5, 2)
    small = Grid(30, 30, 32, 8, 4, 4)  # smaller than one window: one tile, padded
    assert small.shape == (1, 1) and small.extract(np.zeros((30, 30, 3))).shape == (1, 48, 48, 3)


def test_bicubic_matches_the_matlab_resize():
    from jaxsr.data.imresize import _resize_axis

    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (13, 21, 3), np.uint8)
    yy, xx = np.mgrid[0:13, 0:21]
    smooth = np.stack([40 + 8 * yy + 3 * xx, 200 - 5 * xx, 90 + 4 * yy], -1).astype(np.uint8)
    for s in (2, 3, 4):
        ours = np.asarray(bicubic.upscale(jnp.asarray(lr[None], jnp.float32), s))[0]
        # MATLAB's two passes (height first) in float, without the uint8 rounding between
        ref = _resize_axis(
            _resize_axis(lr, 0, 13 * s, s, False, "replicate"), 1, 21 * s, s, False, "replicate"
        )
        np.testing.assert_allclose(ours, ref, atol=2e-3)
        # and the uint8 resize of a smooth image (no clipping between the passes): within 1 level
        ours = np.asarray(bicubic.upscale(jnp.asarray(smooth[None], jnp.float32), s))[0]
        assert np.abs(ours - upscale_uint8(smooth, s)).max() <= 1.0
    assert bicubic.macs((10, 20), 2) == 4 * 3 * (20 * 20 + 20 * 40)


# ---- the ensemble --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ensemble(tmp_path_factory):
    """A tiny EDSR x2 (receptive field < 8 LR px) + bicubic, random estimators."""
    root = tmp_path_factory.mktemp("ens")
    over = {"num_feat": 8, "num_block": 1}
    m = models.create("edsr_baseline", 2, **over)
    p = models.init_params(m, 0)
    model_dir.save_model(root / "edsr", p, "edsr_baseline", 2, over)
    est = models.create("mse_estimator", 2, num_candidates=2, features=4)
    ep = models.init_params(est, 1)
    info = {"candidates": [str(root / "edsr"), "bicubic"], "core": 12, "context": 8, "blend": 4}
    model_dir.save_model(
        root / "est", ep, "mse_estimator", 2, {"num_candidates": 2, "features": 4}, info=info
    )
    return root, m, p


def test_one_model_everywhere_equals_its_tiled_and_whole_image_output(tiny_ensemble):
    root, m, p = tiny_ensemble
    ens = Ensemble.load(root / "est", batch=4)
    rng = np.random.default_rng(2)
    lr = rng.integers(0, 256, (45, 58, 3), np.uint8)
    g = ens.grid(45, 58)
    for i in (0, 1):
        res = ens(lr, choices=np.full(g.shape, i))
        np.testing.assert_array_equal(res.image, ens.single(lr, i))  # bit for bit
        assert res.macs == g.shape[0] * g.shape[1] * ens.candidates[i].macs  # no estimator ran
        assert res.est_mse is None
    whole = np.asarray(m.apply({"params": p}, jnp.asarray(lr[None], jnp.float32) / 255.0))[0]
    # the cross-fade uses a tile's output `blend` px beyond its core: exact when context -
    # blend covers the receptive field (6 LR px here: context 8, blend 2; not with blend 4)
    exact = Ensemble.load(root / "est", blend=2, batch=4)
    np.testing.assert_allclose(exact.single(lr, 0), whole, atol=2e-5)
    assert np.abs(ens.single(lr, 0) - whole).max() > 1e-4
    # beta = 0 with the router, and a huge beta (everything bicubic)
    res = ens(lr, 1e6)
    assert (res.choices == 1).all()
    assert res.macs == g.shape[0] * g.shape[1] * (ens.candidates[1].macs + ens.est_macs)
    np.testing.assert_array_equal(res.image, ens.single(lr, 1))
    res0 = ens(lr, 0.0)
    want = np.argmin(res0.est_mse, axis=-1)
    np.testing.assert_array_equal(res0.choices, want)


def test_mixed_choices_take_each_tile_from_its_model(tiny_ensemble):
    root, _, _ = tiny_ensemble
    ens = Ensemble.load(root / "est", blend=0)  # hard cores: each core from one model
    lr = np.random.default_rng(3).integers(0, 256, (40, 40, 3), np.uint8)
    g = ens.grid(40, 40)
    pick = (np.arange(g.shape[0] * g.shape[1]) % 2).reshape(g.shape)
    mixed = ens(lr, choices=pick).image
    a, b = ens.single(lr, 0), ens.single(lr, 1)
    mask = g.expand(pick)[..., None] == 0
    np.testing.assert_array_equal(mixed, np.where(mask, a, b))


def test_bad_ensembles_are_one_line_errors(tiny_ensemble, tmp_path):
    root, _, _ = tiny_ensemble
    with pytest.raises(ValueError, match="not an MSE estimator"):
        Ensemble.load(root / "edsr")
    est = models.create("mse_estimator", 2, num_candidates=3)
    with pytest.raises(ValueError, match="3 outputs, 2 candidates"):
        Ensemble([Candidate("bicubic", None, None, 1)] * 2, est, None, 2)
    # a candidate retrained after its estimators: refused
    import shutil

    from jaxsr.adaptive.ensemble import params_digest

    stale = tmp_path / "stale"
    shutil.copytree(root, stale)
    meta = model_dir.read_meta(stale / "est")
    m = models.create("edsr_baseline", 2, num_feat=8, num_block=1)
    meta["info"]["candidates"][0] = str(stale / "edsr")
    meta["info"]["params_sha256"] = [params_digest(models.init_params(m, 0)), None]
    (stale / "est" / "jaxsr_model.json").write_text(json.dumps(meta))
    Ensemble.load(stale / "est")  # the same params: fine
    shutil.rmtree(stale / "edsr")
    model_dir.save_model(
        stale / "edsr",
        models.init_params(m, 7),
        "edsr_baseline",
        2,
        {"num_feat": 8, "num_block": 1},
    )
    with pytest.raises(ValueError, match="changed since its estimators were trained"):
        Ensemble.load(stale / "est")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        from jaxsr.adaptive.ensemble import load_candidate

        load_candidate(str(tmp_path / "nowhere"), 2, 28)


# ---- estimator training through the trainer ----------------------------------------------
def _estimator_config(cands: list[str], steps: int):
    from jaxsr.configs_lib import load_sibling

    c = load_sibling(str(REPO / "configs" / "x.py"), "adaptive.py").get_config("demo")
    c.adaptive.candidates = tuple(cands)
    c.adaptive.pretrain_steps = 0
    c.adaptive.core, c.adaptive.context, c.adaptive.blend = 8, 4, 2
    c.model.scale = 2
    c.model.overrides = {"num_candidates": len(cands), "features": 8}
    c.data.hr_patch, c.data.batch_size = 32, 8
    c.train.steps, c.train.log_every, c.ckpt.every = steps, 10, 1000
    c.optim.lr, c.optim.milestones = 3e-3, ()
    return c


@pytest.mark.slow
def test_estimator_training_lowers_held_out_error(tiny_ensemble, tmp_path):
    from jaxsr.data.benchmark import load_set
    from jaxsr.train.stages import run

    root, _, _ = tiny_ensemble
    cfg = _estimator_config([str(root / "edsr"), "bicubic"], 600)
    run(cfg, tmp_path / "w", quiet=True)
    trained = Ensemble.load(tmp_path / "w" / "final_model")
    meta = model_dir.read_meta(tmp_path / "w" / "final_model")
    assert meta["info"]["candidates"] == [str((root / "edsr").absolute()), "bicubic"]
    assert meta["info"]["macs_per_window"] == [c.macs for c in trained.candidates]
    init = Ensemble(
        trained.candidates,
        trained.estimator,
        models.init_params(trained.estimator, 0),
        2,
        8,
        4,
        2,
    )
    held = [(p.lr, p.hr) for p in load_set(str(SAMPLES), "Demo", 2).pairs]  # never trained on
    before, after = log_mse_error(init, held), log_mse_error(trained, held)
    assert after["tiles"] == before["tiles"] > 20
    assert np.mean(after["abs_log_err"]) < 0.5 * np.mean(before["abs_log_err"]), (before, after)
    # and it predicts per tile: better than the best constant per candidate (the held-out
    # median log MSE, which a bias-only estimator could at most learn)
    const = log_mse_error(init, held, constant=True)
    assert np.mean(after["abs_log_err"]) < np.mean(const["abs_log_err"]), (const, after)


def test_task_loss_is_the_log_mse_of_each_candidate(tiny_ensemble):
    from jaxsr.adaptive.ensemble import load_candidate
    from jaxsr.methods.mse_estimator import EPS, MSEEstimatorMethod

    root, m, p = tiny_ensemble
    cands = (load_candidate(str(root / "edsr"), 2, 16), load_candidate("bicubic", 2, 16))
    meth = MSEEstimatorMethod(candidates=cands, scale=2, context=4)
    _, state = meth.init({}, jax.random.key(0))
    rng = np.random.default_rng(4)
    lr = rng.uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    hr = rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    pred = np.array([[-3.0, -2.0]] * 3, np.float32)
    loss, metrics = meth.task_loss(
        lambda _, x: jnp.asarray(pred), None, state, lr, hr, lambda a, b: jnp.mean(jnp.abs(a - b))
    )
    outs = [np.asarray(m.apply({"params": p}, lr)), np.asarray(bicubic.upscale(jnp.asarray(lr), 2))]
    target = np.stack(
        [
            np.log(
                np.mean((np.clip(o, 0, 1)[:, 8:-8, 8:-8] - hr[:, 8:-8, 8:-8]) ** 2, axis=(1, 2, 3))
                + EPS
            )
            for o in outs
        ],
        -1,
    )
    np.testing.assert_allclose(float(loss), np.mean(np.abs(pred - target)), rtol=1e-5)
    np.testing.assert_allclose(
        float(metrics["abs_log_err_1"]), np.mean(np.abs(pred - target)[:, 1]), rtol=1e-5
    )


def test_config_errors_name_the_key(tiny_ensemble, tmp_path):
    from jaxsr.train.stages import check

    root, _, _ = tiny_ensemble
    cfg = _estimator_config([str(root / "edsr"), str(tmp_path / "missing")], 5)
    with pytest.raises(FileNotFoundError, match="missing"):
        check(cfg)
    cfg = _estimator_config([str(root / "edsr"), "bicubic"], 5)
    cfg.data.hr_patch = 40
    with pytest.raises(ValueError, match="data.hr_patch=40"):
        check(cfg)
    cfg = _estimator_config([str(root / "edsr"), "bicubic"], 5)
    cfg.model.overrides = {"num_candidates": 3}
    with pytest.raises(ValueError, match="num_candidates=3"):
        check(cfg)
    cfg = _estimator_config(["bicubic", "bicubic"], 5)
    with pytest.raises(ValueError, match="twice"):
        check(cfg)
    cfg = _estimator_config([str(root / "edsr"), "bicubic"], 5)
    cfg.method = "dense"  # an estimator is no SR model to train densely
    with pytest.raises(ValueError, match="estimator model, config.method='dense' trains sr models"):
        check(cfg)


def test_evaluate_cli_betas_and_alone(tiny_ensemble, tmp_path):
    root, _, _ = tiny_ensemble
    out = tmp_path / "r.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.evaluate",
            f"--weights={root / 'est'}",
            f"--data={SAMPLES}",
            "--sets=Demo",
            "--beta=0,1000",
            "--alone",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    runs = res["runs"]
    assert [x.get("beta", x.get("alone")) for x in runs] == [0.0, 1000.0, *res["candidates"]]
    big, bic = runs[1]["sets"]["Demo"], runs[3]["sets"]["Demo"]
    assert big["share"] == [0.0, 1.0] and bic["share"] == [0.0, 1.0]
    assert big["psnr_y"] == bic["psnr_y"]  # the same pixels
    assert big["gmacs"] > bic["gmacs"]  # + the estimators
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.evaluate",
            f"--weights={root / 'est'}",
            f"--data={SAMPLES}",
            "--sets=Demo",
            "--beta=-1",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert bad.returncode == 2 and "--beta='-1'" in bad.stderr.strip().splitlines()[-1]


def test_upscale_cli_adaptive_writes_the_choice_map_and_refuses_bad_input(tiny_ensemble, tmp_path):
    from PIL import Image

    root, _, _ = tiny_ensemble
    src = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (30, 44, 3), np.uint8)).save(src)
    out = tmp_path / "out"

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "jaxsr.upscale", f"--input={src}", f"--out={out}", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )

    r = cli(f"--weights={root / 'est'}", "--beta=1000")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads((out / "in_x2_choices.json").read_text())
    assert doc["share"] == [0.0, 1.0] and np.array(doc["choices"]).shape == (3, 4)
    ens = Ensemble.load(root / "est")
    img = np.asarray(Image.open(out / "in_x2.png"))
    want = np.round(np.clip(ens.single(np.asarray(Image.open(src)), 1), 0, 1) * 255)
    np.testing.assert_array_equal(img, want.astype(np.uint8))
    assert np.asarray(Image.open(out / "in_x2_choices.png")).shape == (60, 88, 3)
    # a second run would overwrite the choice map: refused before compute, nothing changed
    (out / "in_x2.png").unlink()
    r = cli(f"--weights={root / 'est'}")
    assert r.returncode == 2 and "in_x2_choices.png: exists" in r.stderr.strip().splitlines()[-1]
    assert not (out / "in_x2.png").exists()
    r = cli(f"--weights={root / 'edsr'}", "--beta=0.5", f"--out={tmp_path / 'o2'}")
    assert (
        r.returncode == 2
        and "--beta/--blend need MSE-estimator" in r.stderr.strip().splitlines()[-1]
    )
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())
