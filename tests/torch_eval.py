"""An independent PyTorch evaluation: reads the PNGs itself, runs `torch_ref` models loaded with
`strict=True` from the published files, and computes PSNR (RGB, and Y with EDSR's formula) in
torch. Shares no code with jaxsr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import torch_ref

CHECKPOINTS = {  # (model, scale): (file, strict-load key rewrite)
    ("rfdn", 4): "rfdn_x4.pth",
    ("imdn", 2): "imdn_x2.pth",
    ("imdn", 3): "imdn_x3.pth",
    ("imdn", 4): "imdn_x4.pth",
    ("carn_m", 2): "carn_m_x234.pth",
    ("carn_m", 3): "carn_m_x234.pth",
    ("carn_m", 4): "carn_m_x234.pth",
}
PUBLISHED_SET5_Y = {
    ("rfdn", 4): 32.161,
    ("imdn", 2): 37.997,
    ("imdn", 3): 34.362,
    ("imdn", 4): 32.211,
    ("carn_m", 2): 37.682,
    ("carn_m", 3): 34.061,
    ("carn_m", 4): 31.885,
}


def load_reference(weights_dir: Path, name: str, scale: int):
    kw = {"multi_scale": True} if name == "carn_m" else {}
    model, rng = torch_ref.build(name, scale, **kw)
    sd = torch.load(weights_dir / CHECKPOINTS[(name, scale)], map_location="cpu", weights_only=True)
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    model.load_state_dict(sd, strict=True)
    return model.eval(), rng


def _read(path: Path) -> torch.Tensor:
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)[None]  # 1x3xHxW, [0,255]


def evaluate(model, pixel_range: float, root: Path, set_name: str, scale: int) -> dict:
    """Mean PSNR over a set: {'psnr_rgb', 'psnr_y', 'images': {name: psnr_y}}."""
    rgb, ys, per = [], [], {}
    coef = torch.tensor([65.738, 129.057, 25.064], dtype=torch.float64).view(1, 3, 1, 1) / 256
    for hr_path in sorted((root / set_name / "HR").glob("*.png")):
        lr = _read(root / set_name / "LR_bicubic" / f"X{scale}" / f"{hr_path.stem}x{scale}.png")
        hr = _read(hr_path)
        with torch.no_grad():
            sr = model(lr / 255.0 * pixel_range) / pixel_range
        sr = (sr.clamp(0, 1) * 255).round().double()
        hr = hr[..., : lr.shape[2] * scale, : lr.shape[3] * scale].double()
        c = scale
        diff = (sr - hr)[..., c:-c, c:-c]
        rgb.append(float(10 * torch.log10(255.0**2 / diff.pow(2).mean())))
        dy = (diff / 255.0 * coef).sum(1)
        ys.append(float(-10 * torch.log10(dy.pow(2).mean())))
        per[hr_path.stem] = ys[-1]
    return {"psnr_rgb": float(np.mean(rgb)), "psnr_y": float(np.mean(ys)), "images": per}
