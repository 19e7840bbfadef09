"""Metrics against hand-computed values and the EDSR-style Y-PSNR formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxsr import metrics


def test_psnr_hand_computed_rgb():
    hr = np.full((10, 10, 3), 100, np.uint8)
    sr = hr.copy()
    sr[5, 5, 0] = 110  # one value off by 10 inside the crop
    # crop 2 -> 6x6x3 = 108 values, squared error 100 -> MSE 100/108
    want = 10 * math.log10(255**2 / (100 / 108))
    assert metrics.psnr(sr, hr, crop_border=2) == pytest.approx(want, abs=1e-12)
    sr[0, 0, 0] = 0  # outside the crop: no effect
    assert metrics.psnr(sr, hr, crop_border=2) == pytest.approx(want, abs=1e-12)


def test_psnr_y_hand_computed():
    hr = np.zeros((4, 4, 3), np.uint8)
    sr = hr.copy()
    sr[..., 1] = 1  # G off by one everywhere -> dY = 128.553 / 255 everywhere
    want = 10 * math.log10(255**2 / (128.553 / 255) ** 2)
    assert metrics.psnr(sr, hr, y=True) == pytest.approx(want, abs=1e-10)


def test_y_range_and_values():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], np.uint8)
    y = metrics.rgb_to_y(rgb)
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481], atol=1e-9)


def test_float_sr_is_quantised_first():
    hr = np.full((8, 8, 3), 128, np.uint8)
    sr = np.full((8, 8, 3), 128.4 / 255, np.float32)  # rounds to 128
    assert metrics.psnr(sr, hr) == float("inf")
    sr = np.full((8, 8, 3), 1.7, np.float32)  # clipped to 255
    assert metrics.psnr(sr, hr) == pytest.approx(10 * math.log10(255**2 / 127**2))


def test_ssim_constant_images_closed_form():
    # No variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b = 100.0, 120.0
    c1 = (0.01 * 255) ** 2
    want = (2 * a * b + c1) / (a * a + b * b + c1)
    got = metrics.ssim(np.full((20, 20, 3), a, np.uint8), np.full((20, 20, 3), b, np.uint8))
    assert got == pytest.approx(want, abs=1e-12)


def _ssim_direct(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook SSIM with an explicit 11x11 window sum at every valid position."""
    g1 = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g1, g1) / np.outer(g1, g1).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (win * px).sum(), (win * py).sum()
            vx = (win * px * px).sum() - mx * mx
            vy = (win * py * py).sum() - my * my
            cxy = (win * px * py).sum() - mx * my
            vals.append(
                ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            )
    return float(np.mean(vals))


def test_ssim_matches_direct_window_sum():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (24, 19, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    want = np.mean(
        [_ssim_direct(sr[..., c].astype(float), hr[..., c].astype(float)) for c in range(3)]
    )
    assert metrics.ssim(sr, hr, crop_border=2) == pytest.approx(
        np.mean(
            [
                _ssim_direct(sr[2:-2, 2:-2, c].astype(float), hr[2:-2, 2:-2, c].astype(float))
                for c in range(3)
            ]
        ),
        abs=1e-12,
    )
    assert metrics.ssim(sr, hr) == pytest.approx(want, abs=1e-12)
    want_y = _ssim_direct(metrics.rgb_to_y(sr), metrics.rgb_to_y(hr))
    assert metrics.ssim(sr, hr, y=True) == pytest.approx(want_y, abs=1e-12)


def _edsr_y_psnr(sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
    """EDSR-PyTorch `calc_psnr` (benchmark): RGB diff -> Y via [65.738,129.057,25.064]/256."""
    diff = (sr.astype(np.float64) - hr.astype(np.float64)) / 255.0
    diff = diff @ (np.array([65.738, 129.057, 25.064]) / 256.0)
    valid = diff[scale:-scale, scale:-scale]
    return float(-10 * np.log10(np.mean(valid**2)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), noise=st.integers(1, 40), scale=st.sampled_from([2, 3, 4]))
def test_y_psnr_agrees_with_edsr_formula(seed, noise, scale):
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (32, 28, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-noise, noise + 1, hr.shape), 0, 255).astype(
        np.uint8
    )
    if np.array_equal(sr[scale:-scale, scale:-scale], hr[scale:-scale, scale:-scale]):
        return
    ours = metrics.psnr(sr, hr, crop_border=scale, y=True)
    # the two coefficient sets differ by < 2e-5 relative, i.e. < 2e-4 dB
    assert ours == pytest.approx(_edsr_y_psnr(sr, hr, scale), abs=2e-4)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
