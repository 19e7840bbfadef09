"""Image file I/O: PNG/BMP/JPEG to RGB uint8 HxWx3 (grayscale becomes 3 equal channels)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3). Errors name the file."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "I;16", "I", "1", "P", "LA"):
                im = im.convert("L") if im.mode != "P" else im.convert("RGB")
            arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable image ({e})") from None
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(image, np.uint8)).save(path)


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop bottom/right so that height and width are multiples of `scale`."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
