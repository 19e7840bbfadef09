"""Benchmark sets in the EDSR layout.

    ROOT/<Set>/HR/<name>.png
    ROOT/<Set>/LR_bicubic/X<s>/<name>x<s>.png

HR images are mod-cropped to a multiple of the scale. When the `LR_bicubic/X<s>` folder is
absent the LR images are made with jaxsr's MATLAB-exact bicubic (`lr_source == "generated"`).
Images are read by `jaxsr.data.images.read_image`: grayscale becomes three equal channels,
16-bit samples are scaled by `round(v * 255 / 65535)`, alpha is dropped with a warning.
A missing partner, a size mismatch or an unreadable file raises an error naming the file.
An HR/LR pair where one image is grayscale and the other colour raises a ValueError naming
both files; an RGB file whose three channels are all equal counts as grayscale, so a gray HR
with a gray-content RGB LR (or the reverse) is accepted.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from jaxsr.data.images import list_images, mod_crop, read_image, read_lr
from jaxsr.data.imresize import downscale


@dataclasses.dataclass(frozen=True)
class Pair:
    name: str
    hr: np.ndarray  # uint8 HxWx3, mod-cropped
    lr: np.ndarray  # uint8 (H/s)x(W/s)x3


@dataclasses.dataclass(frozen=True)
class BenchmarkSet:
    name: str
    scale: int
    pairs: list[Pair]
    lr_source: str  # "files" or "generated"


def lr_folder(root: str | os.PathLike, set_name: str, scale: int) -> Path:
    return Path(root) / set_name / "LR_bicubic" / f"X{scale}"


def load_set(root: str | os.PathLike, set_name: str, scale: int) -> BenchmarkSet:
    """Load one set; see the module docstring for the layout and checks."""
    hr_dir = Path(root) / set_name / "HR"
    if not hr_dir.is_dir():
        raise FileNotFoundError(f"{hr_dir}: no HR folder for set {set_name!r}")
    hr_files = list_images(hr_dir)
    if not hr_files:
        raise FileNotFoundError(f"{hr_dir}: no images")
    lr_dir = lr_folder(root, set_name, scale)
    generated = not lr_dir.is_dir()
    if not generated:
        stems = {p.stem for p in hr_files}
        for lr_path in list_images(lr_dir):
            if (
                not lr_path.stem.endswith(f"x{scale}")
                or lr_path.stem[: -len(f"x{scale}")] not in stems
            ):
                raise FileNotFoundError(f"{lr_path}: LR image without an HR partner in {hr_dir}")
    pairs = []
    for hr_path in hr_files:
        hr_full, hr_gray = read_image(hr_path)
        hr = mod_crop(hr_full, scale)
        if generated:
            lr = downscale(hr, scale)
        else:
            cands = [lr_dir / f"{hr_path.stem}x{scale}{hr_path.suffix}"] + [
                lr_dir / f"{hr_path.stem}x{scale}{ext}" for ext in (".png", ".bmp", ".jpg")
            ]
            lr_path = next((c for c in cands if c.is_file()), None)
            if lr_path is None:
                raise FileNotFoundError(f"{cands[0]}: missing LR image for {hr_path}")
            lr = read_lr(lr_path, scale, hr_path, hr, hr_gray)
        pairs.append(Pair(hr_path.stem, hr, lr))
    return BenchmarkSet(set_name, scale, pairs, "generated" if generated else "files")
