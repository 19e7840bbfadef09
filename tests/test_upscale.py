"""`python -m jaxsr.upscale`: outputs equal the model's, gray/RGBA kept, bad input refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from jaxsr import model_dir, models, upscale

from .conftest import REPO


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, object, object]:
    d = tmp_path_factory.mktemp("model") / "m"
    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    params = models.init_params(model, 0)
    model_dir.save_model(d, params, "msrresnet", 2, {"num_feat": 8, "num_block": 1})
    return d, model, params


def _direct(model, params, rgb: np.ndarray) -> np.ndarray:
    y = model.apply({"params": params}, jax.numpy.asarray(rgb[None], np.float32) / 255.0)
    return np.clip(np.asarray(y[0]), 0, 1)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jaxsr.upscale", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_rgb_gray_rgba_outputs(tmp_path, tiny):
    d, model, params = tiny
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (13, 17, 3), np.uint8)
    gray = rng.integers(0, 256, (9, 11), np.uint8)
    rgba = np.concatenate([rgb, rng.integers(0, 256, (13, 17, 1), np.uint8)], axis=-1)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rgb).save(src / "a.png")
    Image.fromarray(gray).save(src / "b.png")
    Image.fromarray(rgba).save(src / "c.png")
    (src / "notes.txt").write_text("not an image")  # a folder's non-images are ignored
    r = _cli(f"--input={src}", f"--weights={d}", f"--out={tmp_path / 'out'}")
    assert r.returncode == 0, r.stderr[-2000:]
    out = {p.name: np.asarray(Image.open(p)) for p in (tmp_path / "out").iterdir()}
    assert sorted(out) == ["a_x2.png", "b_x2.png", "c_x2.png"]
    want = np.round(_direct(model, params, rgb) * 255).astype(np.uint8)
    assert np.abs(out["a_x2.png"].astype(int) - want).max() <= 1  # jit vs eager rounding
    g3 = np.repeat(gray[..., None], 3, axis=-1)
    want_g = np.round(_direct(model, params, g3).mean(axis=-1) * 255).astype(np.uint8)
    assert out["b_x2.png"].shape == (18, 22)
    assert np.abs(out["b_x2.png"].astype(int) - want_g).max() <= 1
    assert out["c_x2.png"].shape == (26, 34, 4)
    assert np.abs(out["c_x2.png"][..., :3].astype(int) - want).max() <= 1
    a = np.asarray(
        Image.fromarray(rgba[..., 3].astype(np.float32) / 255).resize((34, 26), Image.BICUBIC)
    )
    want_a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    assert np.abs(out["c_x2.png"][..., 3].astype(int) - want_a).max() <= 1
    # an existing output is refused before any compute, unless --overwrite
    r = _cli(f"--input={src / 'a.png'}", f"--weights={d}", f"--out={tmp_path / 'out'}")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'out' / 'a_x2.png'}: exists (use --overwrite to replace it, "
        "--skip_existing to keep it)"
    )
    r = _cli(
        f"--input={src / 'a.png'}", f"--weights={d}", f"--out={tmp_path / 'out'}", "--overwrite"
    )
    assert r.returncode == 0, r.stderr[-2000:]


def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path, tiny):
    d, _, _ = tiny
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    cases = [
        ([f"--input={tmp_path / '*.png'}"], f"error: {bad}: unreadable image"),
        ([f"--input={tmp_path / 'none.png'}"], "no such file, folder or pattern"),
        ([f"--input={tmp_path / 'z*.png'}"], "the pattern matches no image file"),
    ]
    for args, msg in cases:
        r = _cli(*args, f"--weights={d}", f"--out={out}")
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and msg in last and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()  # not even an empty --out
    for args, msg in [
        ([f"--weights={tmp_path / 'nomodel'}"], "--weights="),
        ([f"--weights={d}", "--beta=0.5"], "--beta/--blend need MSE-estimator weights"),
        ([f"--weights={d}", "--overwrite", "--skip_existing"], "choose one"),
    ]:
        r = _cli(f"--input={good}", *args, f"--out={out / 'deep'}")
        assert r.returncode == 2 and msg in r.stderr.strip().splitlines()[-1], r.stderr
        assert not out.exists()
    # an output that is one of the inputs is refused (a.png -> a_x2.png, also an input)
    with pytest.raises(ValueError, match="a_x2.png: is one of the inputs"):
        upscale.plan([tmp_path / "a.png", tmp_path / "a_x2.png"], tmp_path, 2)
    with pytest.raises(ValueError, match="would both write"):
        upscale.plan([tmp_path / "a" / "x.png", tmp_path / "b" / "x.jpg"], out, 2)


def test_tiled_and_whole_image_agree_and_compile_once_per_shape(tiny):
    """MSRResNet-1 has a bounded receptive field: tiles with enough overlap give the
    whole-image result; images of one shape reuse one compilation."""
    from jaxsr.inference import Predictor

    _, model, params = tiny
    rgb = np.random.default_rng(1).integers(0, 256, (40, 50, 3), np.uint8)
    whole = Predictor(model, params, 2)(rgb, tiled=False)
    tiled = Predictor(model, params, 2, tile=24, overlap=6, align=1)(rgb, tiled=True)
    np.testing.assert_allclose(tiled, whole, atol=2e-6)
    p = Predictor(model, params, 2)
    for _ in range(3):
        p(rgb)
    assert p._fn.cache_size() == 1


def test_exif_orientation_globs_and_phase_one_checks(tmp_path, tiny):
    d, model, params = tiny
    src = tmp_path / "in"
    src.mkdir()
    rgb = np.random.default_rng(2).integers(0, 256, (6, 10, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers rotate it 90 degrees clockwise
    Image.fromarray(rgb).save(src / "a.png", exif=exif)
    (src / "notes.txt").write_text("a glob skips non-images as a folder does")
    out = tmp_path / "out"
    r = _cli(f"--input={src / '*'}", f"--weights={d}", f"--out={out}")
    assert r.returncode == 0, r.stderr[-2000:]
    y = np.asarray(Image.open(out / "a_x2.png"))
    shown = np.ascontiguousarray(np.rot90(rgb, -1))  # as a viewer shows the input
    assert y.shape == (20, 12, 3)
    want = np.round(_direct(model, params, shown) * 255).astype(np.uint8)
    assert np.abs(y.astype(int) - want).max() <= 1
    # a float TIFF (unsupported) is refused before the first image is written
    Image.fromarray(np.zeros((5, 5), np.float32)).save(src / "b.tif")
    out2 = tmp_path / "out2"
    r = _cli(f"--input={src}", f"--weights={d}", f"--out={out2}")
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith(f"error: {src / 'b.tif'}:"), r.stderr
    assert not out2.exists() or not any(out2.iterdir())
    r = _cli(
        f"--input={src / 'a.png'}", f"--weights={d}", f"--out={out2}", "--tile=40", "--overlap=15"
    )
    assert r.returncode == 2 and "--overlap=15, --tile=40: need" in r.stderr


def test_rerun_after_a_kill_removes_temporaries_and_skips_done_images(tmp_path, tiny):
    """A kill leaves a finished PNG, a missing one and a `.NAME.tmp-PID` half-write: the rerun
    with --skip_existing removes the temporary, keeps the finished PNG untouched and writes
    only the missing one."""
    d, _, _ = tiny
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (12, 14, 3), np.uint8)).save(src / f"{name}.png")
    out.mkdir()
    done = out / "a_x2.png"
    Image.fromarray(np.zeros((24, 28, 3), np.uint8)).save(done)  # not what the model gives
    stale = out / ".b_x2.png.tmp-99999"
    stale.write_bytes(b"half a png")
    r = _cli(f"--input={src}", f"--weights={d}", f"--out={out}")
    assert r.returncode == 2 and "--skip_existing to keep it" in r.stderr.strip().splitlines()[-1]
    assert stale.exists()  # a refused run touches nothing
    r = _cli(f"--input={src}", f"--weights={d}", f"--out={out}", "--skip_existing")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 of 2 image(s) done before" in r.stdout and "wrote 1 image(s)" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.png"]
    assert not np.asarray(Image.open(done)).any()  # kept as it was
    assert np.asarray(Image.open(out / "b_x2.png")).shape == (24, 28, 3)
    assert upscale.plan([src / "a.png", src / "b.png"], out, 2, skip_existing=True) == []
