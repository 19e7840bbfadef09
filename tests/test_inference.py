"""Tiled inference: exact for bounded receptive fields, < 0.001 dB for global-context models."""

from __future__ import annotations

import numpy as np
import pytest

from jaxsr import metrics, models
from jaxsr.data.images import list_images, mod_crop, read_image
from jaxsr.data.imresize import downscale
from jaxsr.inference import Predictor, _starts

from .conftest import SHARED, needs_shared


def test_tile_starts_cover_the_image():
    for length, tile, ov, align in [
        (100, 40, 8, 1),
        (41, 40, 8, 1),
        (257, 128, 32, 12),
        (40, 40, 8, 12),
        (720, 512, 32, 12),
        (1000, 96, 24, 12),
    ]:
        starts = _starts(length, tile, ov, align)
        assert starts[0] == 0 and all(s % align == 0 for s in starts)
        assert starts[-1] + tile >= length and starts[-1] < length
        assert all(b - a <= tile - 2 * ov for a, b in zip(starts, starts[1:], strict=False))
        covered = np.zeros(length, bool)  # cores cover every pixel
        for s in starts:
            e = min(s + tile, length)
            covered[s + (ov if s else 0) : e - (ov if e < length else 0)] = True
        assert covered.all()


@pytest.mark.parametrize(
    ("name", "kw"),
    [("msrresnet", {"num_block": 3}), ("edsr_baseline", {"num_block": 3}), ("carn_m", {})],
)
def test_tiled_equals_whole_for_local_models(name, kw):
    model = models.create(name, 2, **kw)
    params = models.init_params(model, 0)
    lr = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    pred = Predictor(model, params, 2, tile=60, overlap=24)
    whole, tiled = pred(lr, tiled=False), pred(lr, tiled=True)
    assert tiled.shape == whole.shape == (140, 180, 3)
    np.testing.assert_allclose(tiled, whole, atol=2e-5)


def test_images_up_to_max_pixels_are_not_tiled_by_default(monkeypatch):
    """The default is whole-image up to `max_pixels` and tiles one pixel beyond (a spy on the
    tiler: a local model's tiled output can equal its whole-image output bit for bit)."""
    model = models.create("carn_m", 2)
    pred = Predictor(model, models.init_params(model), 2, tile=24, overlap=4, max_pixels=40 * 30)
    tiled, real = [], pred._tiled
    monkeypatch.setattr(pred, "_tiled", lambda x: tiled.append(x.shape) or real(x))
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pred(lr), pred(lr, tiled=False))
    assert tiled == []
    assert pred(rng.integers(0, 256, (41, 30, 3), dtype=np.uint8)).shape == (82, 60, 3)
    assert len(tiled) == 1


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize(("name", "scale", "rows", "cols"), [("imdn", 2, 3, 3), ("rfdn", 4, 4, 6)])
def test_default_tiles_change_global_models_by_under_1e3_db(name, scale, rows, cols):
    pytest.importorskip("torch")
    from jaxsr.convert import import_torch

    land = []  # the first rows x cols landscape B100 HR images (as load_set gives them)
    for path in list_images(SHARED / "data" / "benchmark" / "B100" / "HR"):
        hr = mod_crop(read_image(path)[0], scale)
        land += [hr] if hr.shape[0] < hr.shape[1] else []
        if len(land) == rows * cols:
            break
    hr = np.concatenate(
        [np.concatenate(land[r * cols : (r + 1) * cols], 1) for r in range(rows)], 0
    )
    lr = downscale(hr, scale)
    assert max(lr.shape[:2]) > 512  # the default tile size really splits it
    weights = {"imdn": "imdn_x2.pth", "rfdn": "rfdn_x4.pth"}[name]
    model, params, _ = import_torch(SHARED / "weights" / weights, name, scale)
    pred = Predictor(model, params, scale)
    whole = metrics.psnr(pred(lr, tiled=False), hr, scale, y=True)
    tiled = metrics.psnr(pred(lr, tiled=True), hr, scale, y=True)
    assert abs(whole - tiled) < 1e-3
