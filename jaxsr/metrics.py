"""PSNR and SSIM with BasicSR's conventions (`calculate_psnr` / `calculate_ssim`).

Inputs are HxWx3 RGB images. A float SR output in [0, 1] is first quantised like a saved
PNG (`to_uint8`: clip, x255, round); all arithmetic is float64 on [0, 255] values.
`crop_border` pixels are removed on every side (the convention is crop = scale).
Y channel: ITU-R BT.601 `Y = 16 + 65.481 R + 128.553 G + 24.966 B` with RGB in [0, 1] (no
rounding). SSIM: 11x11 Gaussian window (sigma 1.5), 'valid' filtering, C1 = (0.01*255)^2,
C2 = (0.03*255)^2, mean of the map, averaged over channels (matches MATLAB's ssim).
"""

from __future__ import annotations

import numpy as np

# what every evaluation reports per image and per set (`all_metrics`), in this order
KEYS = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")
# what the trainer logs per evaluation set (`Set5/psnr_y`, ...; `eval.select` picks one)
TRAINING_KEYS = ("psnr_y", "ssim_y", "psnr_rgb")

Y_COEFFS = np.array([65.481, 128.553, 24.966], np.float64)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 as `(img.clip(0, 1) * 255).round()`; uint8 passes through."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.round(np.clip(image.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image given on [0, 255]; returns float64 in [16, 235]."""
    img = np.asarray(image, np.float64) / 255.0
    return img @ Y_COEFFS + 16.0


def _prepare(
    sr: np.ndarray, hr: np.ndarray, crop_border: int, y: bool
) -> tuple[np.ndarray, np.ndarray]:
    sr, hr = to_uint8(sr), to_uint8(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"image shapes differ: SR {sr.shape} vs HR {hr.shape}")
    if sr.ndim != 3 or sr.shape[-1] != 3:
        raise ValueError(f"expected HxWx3 images, got {sr.shape}")
    if crop_border:
        c = crop_border
        sr, hr = sr[c:-c, c:-c], hr[c:-c, c:-c]
    if y:
        return rgb_to_y(sr)[..., None], rgb_to_y(hr)[..., None]
    return sr.astype(np.float64), hr.astype(np.float64)


def psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y: bool = False) -> float:
    """PSNR in dB (peak 255) over all pixels and channels (or on Y); inf when identical."""
    a, b = _prepare(sr, hr, crop_border, y)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D normalised Gaussian (as OpenCV's getGaussianKernel for sigma > 0)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D image with g (x) g."""
    k = len(g)
    h, w = img.shape
    rows = sum(g[i] * img[i : h - k + 1 + i, :] for i in range(k))
    return sum(g[j] * rows[:, j : w - k + 1 + j] for j in range(k))


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = gaussian_window()
    mu1, mu2 = _filter_valid(a, g), _filter_valid(b, g)
    s11 = _filter_valid(a * a, g) - mu1 * mu1
    s22 = _filter_valid(b * b, g) - mu2 * mu2
    s12 = _filter_valid(a * b, g) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    den = (mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2)
    return float(np.mean(num / den))


def ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y: bool = False) -> float:
    """SSIM (BasicSR/MATLAB convention), mean over channels (or on Y)."""
    a, b = _prepare(sr, hr, crop_border, y)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[:2]}")
    return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[-1])]))


def all_metrics(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> dict[str, float]:
    """psnr_rgb, ssim_rgb, psnr_y, ssim_y for one image pair."""
    return {
        "psnr_rgb": psnr(sr, hr, crop_border),
        "ssim_rgb": ssim(sr, hr, crop_border),
        "psnr_y": psnr(sr, hr, crop_border, y=True),
        "ssim_y": ssim(sr, hr, crop_border, y=True),
    }
