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
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm")

_GRAY_MODES = ("1", "L", "LA", "La")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class _Unsupported(ValueError):
    pass


def to_uint8_16(v: np.ndarray) -> np.ndarray:
    """16-bit samples -> uint8 as `round(v * 255 / 65535)` (MATLAB im2uint8; no ties occur)."""
    v = np.asarray(v).astype(np.uint32)
    return ((v * 2 + 257) // 514).astype(np.uint8)


_PNG_CHANNELS = {2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel (multi-channel)


def _wide_channels(im: Image.Image, path: Path) -> int | None:
    """Samples per pixel of a 16-bit multi-channel file (colour, or gray+alpha: 2), which
    Pillow (no such mode) opens keeping only the high byte of each; None for any other file.
    PNG: its IHDR's bit depth and colour type; TIFF: BitsPerSample; PPM: maxval > 255."""
    if im.mode not in ("RGB", "RGBA", "LA"):
        return None
    if im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(26)
        wide = len(head) == 26 and head[24] == 16
        return _PNG_CHANNELS.get(head[25]) if wide else None
    if im.format == "TIFF":
        if any(int(b) > 8 for b in np.atleast_1d(im.tag_v2.get(258, 8))):
            return int(im.tag_v2.get(277, len(im.getbands())))
        return None
    if im.format == "PPM" and _ppm_maxval(path) > 255:
        return 3
    return None


def _ppm_maxval(path: Path) -> int:
    """The maxval field of a binary PPM header (magic, width, height, maxval; `#` comments)."""
    with open(path, "rb") as f:
        head = f.read(512)
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        fields += line.split(b"#", 1)[0].split()
        if len(fields) >= 4:
            return int(fields[3])
    raise _Unsupported("unreadable PPM header")


def _opencv(path: Path) -> np.ndarray:
    """The file's samples as OpenCV decodes them (`IMREAD_UNCHANGED`: uint16 kept; colour
    in BGR(A) order)."""
    import cv2

    out = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if out is None:
        raise ValueError("OpenCV cannot decode it")
    return out


def _wide_color(path: Path, channels: int) -> np.ndarray:
    """uint16 samples (H, W, `channels`) of a 16-bit colour or gray+alpha file, RGB(A) order,
    decoded by OpenCV (Pillow has no 16-bit multi-channel mode)."""
    v = _opencv(path)
    want = 4 if channels == 2 else channels  # OpenCV expands gray+alpha to BGRA
    if v.dtype != np.uint16 or v.ndim != 3 or v.shape[-1] != want:
        raise _Unsupported(f"unsupported 16-bit sample layout {v.dtype} {v.shape}")
    rgb = v[..., 2::-1]  # BGR(A) -> RGB
    if channels == 2:
        return np.stack([rgb[..., 0], v[..., 3]], axis=-1)
    return np.concatenate([rgb, v[..., 3:]], axis=-1)


def _decode(path: Path) -> tuple[np.ndarray, bool, str | None]:
    """(uint8 (H, W, 1 or 3), stored as gray, what alpha/transparency was dropped or None)."""
    with Image.open(path) as im:
        mode = im.mode
        dropped = "transparency" if "transparency" in im.info else None
        wide = _wide_channels(im, path)
        if wide is None:
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
    wide = _wide_color(path, wide)
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


def read_lr(lr_path: Path, scale: int, hr_path: Path, hr: np.ndarray, hr_gray: bool) -> np.ndarray:
    """The LR image of the (mod-cropped) HR `hr` read from `lr_path`, checked: its size x
    `scale` is the HR's, and both are gray or both colour (`check_gray_match`)."""
    lr, lr_gray = read_image(lr_path)
    if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
        raise ValueError(
            f"{lr_path}: LR size {lr.shape[1]}x{lr.shape[0]} x{scale} does not match "
            f"mod-cropped HR {hr_path} size {hr.shape[1]}x{hr.shape[0]}"
        )
    check_gray_match(hr_path, hr_gray, lr_path, lr_gray)
    return lr


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
