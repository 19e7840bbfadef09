"""Evaluate an SR model on benchmark sets (PSNR/SSIM, RGB and Y, BasicSR conventions).

    python -m jaxsr.evaluate --model=rfdn --scale=4 --weights=rfdn_x4.pth \
        --data=../shared/data/benchmark --sets=Set5,Set14,B100 --json=results.json

`--weights` is a PyTorch `.pth` file (imported on the fly, needs torch) or a model
directory written by `jaxsr.convert` / the trainer (`jaxsr.train`). `--model=bicubic`
evaluates the MATLAB bicubic upscaling baseline (no weights).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxsr import metrics, models
from jaxsr.data.benchmark import BenchmarkSet, load_set
from jaxsr.data.images import write_png
from jaxsr.data.imresize import upscale
from jaxsr.progress import Progress

KEYS = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")


def load_model_and_params(
    model: str | None, scale: int | None, weights: str | None, overrides: dict[str, Any]
) -> tuple[Any, Any, str, int]:
    """(module, params, model name, scale) from a .pth file or a jaxsr model directory."""
    from jaxsr import model_dir

    if weights and Path(weights).is_dir():
        meta = model_dir.read_meta(weights)
        if model and models.spec(model).name != meta["model"]:
            raise ValueError(f"{weights}: holds model {meta['model']!r}, not {model!r}")
        if scale and scale != meta["scale"]:
            raise ValueError(f"{weights}: holds a x{meta['scale']} model, not x{scale}")
        module, params, meta = model_dir.load_model(weights)
        return module, params, meta["model"], meta["scale"]
    if not model or not scale:
        raise ValueError("--model and --scale are required unless --weights is a model directory")
    if weights:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"{weights}: no such file or model directory")
        from jaxsr.convert import import_torch

        module, params, _ = import_torch(weights, model, scale, **overrides)
        model_dir.check_finite(params, weights)
        return module, params, models.spec(model).name, scale
    raise ValueError(f"--weights is required for model {model!r}")


def evaluate_set(
    sr_fn, bset: BenchmarkSet, save_dir: str | os.PathLike | None = None, show: bool = True
) -> dict[str, Any]:
    """Run `sr_fn(lr_uint8) -> float HR in [0,1]` over a set; means and per-image metrics."""
    per_image: dict[str, dict[str, float]] = {}
    bar = Progress(len(bset.pairs), f"{bset.name} x{bset.scale}") if show else None
    for pair in bset.pairs:
        sr = metrics.to_uint8(sr_fn(pair.lr))
        if sr.shape != pair.hr.shape:
            raise ValueError(f"{bset.name}/{pair.name}: SR shape {sr.shape} != HR {pair.hr.shape}")
        per_image[pair.name] = metrics.all_metrics(sr, pair.hr, crop_border=bset.scale)
        if save_dir is not None:
            write_png(Path(save_dir) / bset.name / f"x{bset.scale}" / f"{pair.name}.png", sr)
        if bar:
            bar.update(postfix=f"{pair.name} {per_image[pair.name]['psnr_y']:.2f}dB")
    result: dict[str, Any] = {k: float(np.mean([v[k] for v in per_image.values()])) for k in KEYS}
    result.update(num_images=len(per_image), lr_source=bset.lr_source, images=per_image)
    return result


def format_table(name: str, scale: int, result: dict[str, Any]) -> str:
    head = f"{'image':<14}{'PSNR-RGB':>10}{'SSIM-RGB':>10}{'PSNR-Y':>10}{'SSIM-Y':>10}"
    rows = [
        f"== {name} x{scale} ({result['num_images']} images, LR {result['lr_source']}) ==",
        head,
    ]
    for img, v in result["images"].items():
        rows.append(
            f"{img:<14}{v['psnr_rgb']:>10.3f}{v['ssim_rgb']:>10.4f}{v['psnr_y']:>10.3f}{v['ssim_y']:>10.4f}"
        )
    rows.append(
        f"{'mean':<14}{result['psnr_rgb']:>10.3f}{result['ssim_rgb']:>10.4f}"
        f"{result['psnr_y']:>10.3f}{result['ssim_y']:>10.4f}"
    )
    return "\n".join(rows)


def evaluate(
    model: str | None,
    scale: int | None,
    weights: str | None,
    data: str,
    sets: list[str],
    save_images: str | None = None,
    overrides: dict[str, Any] | None = None,
    tile: int = 512,
    overlap: int = 32,
    max_pixels: int = 1024 * 1024,
    show: bool = True,
) -> dict[str, Any]:
    """Evaluate and return {"model", "scale", "weights", "sets": {name: result}}."""
    if model and model.lower() == "bicubic":
        if not scale:
            raise ValueError("--scale is required for the bicubic baseline")
        name, sr_fn = "bicubic", (lambda lr: upscale(lr, scale).astype(np.float32) / 255.0)
    else:
        from jaxsr.inference import Predictor

        module, params, name, scale = load_model_and_params(model, scale, weights, overrides or {})
        sr_fn = Predictor(module, params, scale, tile, overlap, max_pixels)
    out: dict[str, Any] = {"model": name, "scale": scale, "weights": weights, "sets": {}}
    for set_name in sets:
        bset = load_set(data, set_name, scale)
        if bset.lr_source == "generated" and show:
            print(
                f"note: {set_name}: no LR_bicubic/X{scale} folder; LR made with MATLAB bicubic",
                file=sys.stderr,
            )
        t0 = time.perf_counter()
        res = evaluate_set(sr_fn, bset, save_images, show)
        res["seconds"] = time.perf_counter() - t0
        out["sets"][set_name] = res
        if show:
            print(format_table(set_name, scale, res))
    return out


def parse_sets(text: str) -> list[str]:
    """`"Set5, Set14"` -> `["Set5", "Set14"]`; empty names are an error."""
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise ValueError(f"--sets={text!r}: expected comma-separated set names, e.g. Set5,Set14")
    return names


def check_args(f: Any) -> list[str]:
    """Every argument, before any model is loaded or image computed; returns the set names."""
    from jaxsr import validate

    sets = parse_sets(f.sets)
    data = Path(f.data)
    if not data.is_dir():
        raise FileNotFoundError(f"--data={f.data}: no such folder")
    missing = [s for s in sets if not (data / s / "HR").is_dir()]
    if missing:
        have = sorted(p.name for p in data.iterdir() if (p / "HR").is_dir())
        raise FileNotFoundError(f"--sets: no {data}/<set>/HR folder for {missing}; found {have}")
    for name in ("scale", "tile", "max_pixels"):
        value = getattr(f, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name}={value} must be > 0")
    if f.overlap < 0 or 2 * f.overlap >= f.tile:
        raise ValueError(f"--overlap={f.overlap} must be >= 0 and < --tile/2 ({f.tile / 2:g})")
    if f.model and f.model.lower() != "bicubic":
        models.spec(f.model)
    if f.weights and not Path(f.weights).exists():
        raise FileNotFoundError(f"--weights={f.weights}: no such file or model directory")
    if f.json:
        validate.check_output_file(f.json, "--json")
    if f.save_images:
        validate.check_output_dir(f.save_images, "--save_images")
    return sets


def main(argv: list[str]) -> None:
    from absl import flags

    from jaxsr.cli import fail, interrupted, quiet_logs
    from jaxsr.convert import parse_overrides

    quiet_logs()
    f = flags.FLAGS
    if len(argv) > 1:
        fail(f"unexpected arguments: {argv[1:]}", code=2)
    try:
        sets = check_args(f)
        overrides = parse_overrides(f.override)
    except Exception as e:
        fail(e, code=2)
    try:
        res = evaluate(
            f.model,
            f.scale,
            f.weights,
            f.data,
            sets,
            f.save_images,
            overrides,
            f.tile,
            f.overlap,
            f.max_pixels,
        )
        if f.json:
            from jaxsr.validate import write_text_atomic

            write_text_atomic(f.json, json.dumps(res, indent=2) + "\n")
            print(f"wrote {f.json}")
    except KeyboardInterrupt:
        interrupted("evaluation stopped; no JSON written")
    except Exception as e:
        fail(e)


def run() -> None:
    from absl import app, flags

    flags.DEFINE_string("model", None, "registry name (or 'bicubic'); optional with a model dir")
    flags.DEFINE_integer("scale", None, "upscaling factor; optional with a model dir")
    flags.DEFINE_string("weights", None, ".pth file or jaxsr model directory")
    flags.DEFINE_string("data", None, "benchmark root (EDSR layout)", required=True)
    flags.DEFINE_string("sets", "Set5,Set14,B100", "comma-separated set names")
    flags.DEFINE_string("json", None, "write machine-readable results here")
    flags.DEFINE_string("save_images", None, "write SR PNGs under this directory")
    flags.DEFINE_multi_string("override", [], "model field override key=value")
    flags.DEFINE_integer("tile", 512, "LR tile size for large images")
    flags.DEFINE_integer("overlap", 32, "LR tile overlap")
    flags.DEFINE_integer("max_pixels", 1024 * 1024, "LR pixels above which an image is tiled")
    app.run(main)


if __name__ == "__main__":
    run()
