"""MATLAB-exact bicubic: every published LR file, plus invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from jaxsr.data.images import mod_crop, read_rgb
from jaxsr.data.imresize import contributions, downscale, imresize, upscale

from .conftest import SHARED, needs_shared


def _published(set_name: str, scale: int):
    root = SHARED / "data" / "benchmark" / set_name
    return [
        (p, root / "LR_bicubic" / f"X{scale}" / f"{p.stem}x{scale}.png")
        for p in sorted((root / "HR").glob("*.png"))
    ]


@needs_shared
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("set_name", ["Set5", "Set14", "B100"])
def test_reproduces_every_published_lr_file(set_name, scale):
    files = _published(set_name, scale)
    assert len(files) == {"Set5": 5, "Set14": 14, "B100": 100}[set_name]
    for hr_path, lr_path in files:
        got = downscale(mod_crop(read_rgb(hr_path), scale), scale)
        want = read_rgb(lr_path)
        assert got.shape == want.shape, hr_path.name
        n_diff = int(np.count_nonzero(got != want))
        assert n_diff == 0, f"{lr_path.name}: {n_diff} values differ"


def test_weights_hand_computed_x2():
    # x2 downscale: u = 2x - 0.5 (1-based), kernel h(t) = 0.5*cubic(t/2); an interior output
    # sees input pixels at distances +-0.5, +-1.5, +-2.5, +-3.5: 8 non-zero taps.
    w, idx = contributions(16, 8, 0.5)
    t = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5]) / 2
    a = np.abs(t)
    cub = np.where(
        a <= 1,
        1.5 * a**3 - 2.5 * a**2 + 1,
        np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0),
    )
    want = cub / cub.sum()
    row = w[3]  # an interior output pixel
    nz = row[row != 0]
    assert len(nz) == 8
    np.testing.assert_allclose(np.sort(nz), np.sort(want), rtol=0, atol=1e-15)
    # output pixel 3 (0-based) is centred at input 6.5 (0-based): taps 3..10
    np.testing.assert_array_equal(np.sort(idx[3][row != 0]), np.arange(3, 11))
    assert idx.min() >= 0 and idx.max() <= 15


@settings(max_examples=30, deadline=None)
@given(
    value=st.integers(0, 255),
    h=st.integers(4, 40),
    w=st.integers(4, 40),
    scale=st.sampled_from([0.25, 1 / 3, 0.5, 2.0, 3.0]),
)
def test_constant_image_stays_constant(value, h, w, scale):
    img = np.full((h, w, 3), value, np.uint8)
    out = imresize(img, scale)
    assert out.shape == (int(np.ceil(h * scale)), int(np.ceil(w * scale)), 3)
    assert np.all(out == value)


@settings(max_examples=20, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(8, 24), st.integers(8, 24), st.just(3))))
def test_channels_independent_and_flip_equivariant(img):
    out = imresize(img, 0.5)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], imresize(np.ascontiguousarray(img[..., c]), 0.5))
    if img.shape[1] % 2 == 0:  # even width: flipping commutes with the resize grid
        np.testing.assert_array_equal(imresize(img[:, ::-1].copy(), 0.5), out[:, ::-1])


def test_upscale_shape_and_range():
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (10, 13, 3), dtype=np.uint8)
    up = upscale(lr, 3)
    assert up.shape == (30, 39, 3) and up.dtype == np.uint8
    # bicubic interpolation passes (nearly) through the samples at the grid centres
    assert np.abs(up[1::3, 1::3].astype(int) - lr).max() <= 1


def test_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        imresize(np.zeros((4, 4, 3), np.float32), 0.5)
    with pytest.raises(ValueError, match="scale must be > 0"):
        imresize(np.zeros((4, 4, 3), np.uint8), 0.0)
