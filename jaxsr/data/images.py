"""Image file I/O: PNG/BMP/JPEG/TIFF/PPM to RGB uint8 HxWx3.

Every reader of the project (benchmark sets, TFDS builders) goes through `read_image`:

- grayscale becomes three equal channels;
- 16-bit samples (gray, RGB, RGBA, gray+alpha; PNG, TIFF, PGM/PPM) are scaled to 8 bits
  as MATLAB's `im2uint8` does, `round(v * 255 / 65535)`, never clipped or truncated;
- alpha channels and transparency are dropped (the colour values are kept as stored, not
  composited) with a warning naming the file;
- an unreadable or unsupported file raises a one-line error naming it.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm")

_GRAY_MODES = ("1", "L", "LA", "La")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# Pillow's unpacker suffix that reads the *other* byte of each 16-bit sample ("N" is native).
_SWAP_16 = {"B": "L", "L": "B", "N": "B" if sys.byteorder == "little" else "L"}


class _Unsupported(ValueError):
    pass


def to_uint8_16(v: np.ndarray) -> np.ndarray:
    """16-bit samples -> uint8 as `round(v * 255 / 65535)` (MATLAB im2uint8; no ties occur)."""
    v = np.asarray(v).astype(np.uint32)
    return ((v * 2 + 257) // 514).astype(np.uint8)


def _rawmodes(im: Image.Image) -> list[str]:
    """The rawmode (sample layout in the file) of each decoder tile, before `load()`."""
    out = []
    for tile in im.tile:
        args = tile.args
        out.append(args if isinstance(args, str) else str(args[0]) if args else "")
    return out


def _with_rawmode(im: Image.Image, rawmode: str) -> None:
    """Make Pillow decode `im` (not yet loaded) with another unpacker; the decoder itself
    (inflate, PNG filters, interlacing, libtiff) is unchanged: only how the decoded bytes of a
    pixel are stored differs."""
    im.tile = [
        t._replace(args=rawmode if isinstance(t.args, str) else (rawmode, *t.args[1:]))
        for t in im.tile
    ]


def _wide_color(path: Path, rawmode: str) -> np.ndarray:
    """uint16 samples (H, W, C) of a 16-bit colour or gray+alpha file.

    Pillow has no 16-bit multi-channel mode: it opens such files as RGB/RGBA keeping only the
    high byte of each sample (`RGB;16B` etc.). Its own decoder is run a second time with the
    unpacker that keeps the low byte instead (`RGB;16L` for big-endian data), and the two are
    combined. For 16-bit gray+alpha (4 bytes a pixel), the 8-bit `RGBA` unpacker returns the
    four bytes as they are.
    """
    base, _, order = rawmode.partition(";16")
    if base == "LA" and order == "B":
        with Image.open(path) as im:
            _with_rawmode(im, "RGBA")
            im.load()
            b = np.asarray(im).astype(np.uint16)
        return np.stack([b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]], axis=-1)
    if base not in ("RGB", "RGBA") or order not in _SWAP_16:
        raise _Unsupported(f"unsupported 16-bit sample layout {rawmode!r}")
    with Image.open(path) as im:
        im.load()
        hi = np.asarray(im).astype(np.uint16)
    with Image.open(path) as im:
        _with_rawmode(im, f"{base};16{_SWAP_16[order]}")
        im.load()
        lo = np.asarray(im).astype(np.uint16)
    if hi.shape != lo.shape:
        raise _Unsupported(f"cannot decode the 16-bit samples ({rawmode})")
    return hi << 8 | lo


def _decode(path: Path) -> tuple[np.ndarray, bool, str | None]:
    """(uint8 (H, W, 1 or 3), stored as gray, what alpha/transparency was dropped or None)."""
    with Image.open(path) as im:
        mode, rawmodes = im.mode, _rawmodes(im)
        dropped = "transparency" if "transparency" in im.info else None
        wide_color = mode in ("RGB", "RGBA") and any(";16" in r for r in rawmodes)
        if not wide_color:
            im.load()
            if mode in _GRAY16_MODES:
                v = np.asarray(im)
                if mode == "I" and v.size and (v.min() < 0 or v.max() > 65535):
                    raise _Unsupported("32-bit integer samples outside 0..65535")
                return to_uint8_16(v)[..., None], True, dropped
            if mode == "F":
                raise _Unsupported("floating-point images are not supported")
            if mode in _ALPHA_MODES:
                dropped = f"alpha channel ({mode})"
            if mode in _GRAY_MODES:
                return np.asarray(im.convert("L"))[..., None], True, dropped
            if dropped:  # RGBA, PA, P or RGB with transparency: keep the stored colours
                return np.asarray(im.convert("RGBA"))[..., :3], False, dropped
            return np.asarray(im.convert("RGB")), False, dropped
    wide = _wide_color(path, rawmodes[0])
    if wide.shape[-1] == 2:
        return to_uint8_16(wide[..., :1]), True, "16-bit alpha channel (gray+alpha)"
    if wide.shape[-1] == 4:
        dropped = "16-bit alpha channel (RGBA)"
    return to_uint8_16(wide[..., :3]), False, dropped


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """Read an image as (RGB uint8 (H, W, 3), is_gray).

    `is_gray` is True when the file stores grayscale samples or its three channels are all
    equal (an RGB file holding a gray picture counts as grayscale). 16-bit samples are scaled
    by `round(v * 255 / 65535)`; alpha is dropped with a warning naming the file. Errors are
    one line naming the file.
    """
    path = Path(path)
    try:
        arr, gray, dropped = _decode(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except _Unsupported as e:
        raise ValueError(f"{path}: {e}") from None
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
    ) as e:
        msg = " ".join(str(e).split())
        raise ValueError(f"{path}: unreadable image ({msg})") from None
    if dropped:
        warnings.warn(f"{path}: {dropped} dropped", UserWarning, stacklevel=2)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    elif not gray:
        gray = bool(
            np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])
        )
    return np.ascontiguousarray(arr, dtype=np.uint8), gray


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image as RGB uint8 (H, W, 3); see `read_image`."""
    return read_image(path)[0]


def check_gray_match(
    hr_path: os.PathLike | str, hr_gray: bool, lr_path: os.PathLike | str, lr_gray: bool
) -> None:
    """Refuse an HR/LR pair where one image is grayscale and the other is colour.

    Grayscale means stored as gray or RGB with three equal channels (`read_image`'s
    `is_gray`), so a gray file paired with a gray-content RGB file is fine; a gray file paired
    with an RGB file whose channels differ raises a one-line ValueError naming both files.
    """
    if hr_gray != lr_gray:
        rgb = "colour (RGB with unequal channels)"
        hr_is, lr_is = ("grayscale", rgb) if hr_gray else (rgb, "grayscale")
        raise ValueError(f"{hr_path}: HR is {hr_is} but its LR {lr_path} is {lr_is}")


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
