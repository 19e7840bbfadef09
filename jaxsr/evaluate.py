"""Evaluate an SR model on benchmark sets (PSNR/SSIM, RGB and Y, BasicSR conventions).

    python -m jaxsr.evaluate --model=rfdn --scale=4 --weights=rfdn_x4.pth \
        --data=../shared/data/benchmark --sets=Set5,Set14,B100 --json=results.json

`--weights` is a PyTorch `.pth` file (imported on the fly, needs torch) or a model
directory written by `jaxsr.convert` / the trainer (`jaxsr.train`). `--model=bicubic`
evaluates the MATLAB bicubic upscaling baseline (no weights).

An MSE-estimator model dir (`configs/adaptive.py`) evaluates its adaptive ensemble (SLS eq. 8,
`jaxsr.adaptive`) for every `--beta=0,0.5,...`: metrics, realised GMACs per image, the SR
wall time (compilation included on first use of a shape) and the share of tiles per
candidate; `--alone` adds every candidate alone on the same tiles.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxsr import cli, compile_cache, files, model_dir, models, startpoints
from jaxsr.adaptive import Ensemble, tiles
from jaxsr.convert import parse_overrides
from jaxsr.data.benchmark import load_set
from jaxsr.data.imresize import upscale
from jaxsr.evaluation import evaluate_set
from jaxsr.files import write_text_atomic
from jaxsr.inference import Predictor


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
        module, params, name, scale = startpoints.load_model(weights, model, scale, overrides or {})
        sr_fn = Predictor(
            module, params, scale, tile, overlap, max_pixels, cache_dir=compile_cache.enabled_dir()
        )
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


def is_estimator(weights: str | None) -> bool:
    """Whether `weights` is a model dir holding MSE estimators (an adaptive ensemble)."""

    if not weights or not Path(weights).is_dir():
        return False
    return models.spec(model_dir.read_meta(weights)["model"]).kind == "estimator"


def evaluate_adaptive(
    weights: str,
    data: str,
    sets: list[str],
    betas: list[float],
    alone: bool = False,
    blend: int | None = None,
    save_images: str | None = None,
    show: bool = True,
) -> dict[str, Any]:
    """{"model": "adaptive", "candidates", "runs": [{"beta" | "alone", "sets": {name: result
    + gmacs (mean per image), sr_seconds, share (of tiles per candidate)}}]}."""

    ens = Ensemble.load(weights, blend=blend)
    names = [c.name for c in ens.candidates]
    loaded = {name: load_set(data, name, ens.scale) for name in sets}
    runs: list[tuple[dict, Any]] = [({"beta": b}, b) for b in betas]
    if alone:
        runs += [({"alone": n}, i) for i, n in enumerate(names)]
    out: dict[str, Any] = {
        "model": "adaptive",
        "scale": ens.scale,
        "weights": weights,
        "candidates": names,
        "macs_per_window": [int(c.macs) for c in ens.candidates],
        "tiling": {"core": ens.core, "context": ens.context, "blend": ens.blend},
        "runs": [],
    }
    for head, arg in runs:
        entry = {**head, "sets": {}}
        for set_name, bset in loaded.items():
            log = {"macs": [], "seconds": 0.0, "counts": np.zeros(len(names), np.int64)}

            def sr_fn(lr, head=head, arg=arg, log=log):
                t0 = time.perf_counter()
                if "beta" in head:
                    res = ens(lr, float(arg))
                else:
                    g = ens.grid(*lr.shape[:2])
                    res = ens(lr, choices=np.full(g.shape, arg))
                log["seconds"] += time.perf_counter() - t0
                log["macs"].append(res.macs)
                log["counts"] += np.bincount(res.choices.ravel(), minlength=len(names))
                return res.image

            sub = None
            if save_images:
                tag = f"beta{arg:g}" if "beta" in head else f"alone{arg}"
                sub = str(Path(save_images) / tag)
            res = evaluate_set(sr_fn, bset, sub, show)
            res["gmacs"] = float(np.mean(log["macs"])) / 1e9
            res["sr_seconds"] = log["seconds"]
            res["share"] = (log["counts"] / max(log["counts"].sum(), 1)).tolist()
            res["tiles"] = log["counts"].tolist()
            entry["sets"][set_name] = res
            if show:
                what = f"beta={arg:g}" if "beta" in head else f"alone: {names[arg]}"
                share = " ".join(f"{x:.2f}" for x in res["share"])
                print(
                    f"{set_name} {what}: Y-PSNR {res['psnr_y']:.3f} SSIM {res['ssim_y']:.4f} "
                    f"{res['gmacs']:.3f} GMACs/image {res['sr_seconds']:.1f} s share [{share}]"
                )
        out["runs"].append(entry)
    return out


def parse_betas(text: str) -> list[float]:
    """`"0, 0.5"` -> [0.0, 0.5]; one-line error for anything else (beta >= 0)."""
    try:
        betas = [float(t) for t in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--beta={text!r}: expected comma-separated numbers, e.g. 0,0.5,2"
        ) from None
    if any(not np.isfinite(b) or b < 0 for b in betas):
        raise ValueError(f"--beta={text!r}: every beta must be finite and >= 0")
    return betas


def parse_sets(text: str) -> list[str]:
    """`"Set5, Set14"` -> `["Set5", "Set14"]`; empty names are an error."""
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise ValueError(f"--sets={text!r}: expected comma-separated set names, e.g. Set5,Set14")
    return names


def check_args(f: Any) -> list[str]:
    """Every argument, before any model is loaded or image computed; returns the set names."""

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
    if f.model and f.model.lower() != "bicubic" and models.spec(f.model).kind != "sr":
        raise ValueError(f"--model={f.model}: not an SR model (an estimator dir needs no --model)")
    if f.weights and not Path(f.weights).exists():
        raise FileNotFoundError(f"--weights={f.weights}: no such file or model directory")
    if is_estimator(f.weights):
        if f.model or f.scale or f.override:
            raise ValueError(
                f"--weights={f.weights} is an adaptive ensemble: drop --model/--scale/--override"
            )
        parse_betas(f.beta or "0")
        if f.blend is not None:
            info = model_dir.read_meta(f.weights).get("info") or {}
            core, context = int(info.get("core", 0)), int(info.get("context", 0))
            tiles.Grid(core + 2 * context, core + 2 * context, max(core, 1), context, f.blend)
    elif f.beta or f.alone or f.blend is not None:
        raise ValueError(
            f"--beta/--alone/--blend need MSE-estimator weights (configs/adaptive.py), "
            f"not {f.weights}"
        )
    if f.json:
        files.check_output_file(f.json, "--json")
    if f.save_images:
        files.check_output_dir(f.save_images, "--save_images")
    return sets


def main() -> None:
    from absl import flags

    compile_cache.enable()  # one compile per image shape, reused by later runs
    f = flags.FLAGS
    with cli.checking():
        sets = check_args(f)
        overrides = parse_overrides(f.override)
    if is_estimator(f.weights):
        res = evaluate_adaptive(
            f.weights, f.data, sets, parse_betas(f.beta or "0"), f.alone, f.blend, f.save_images
        )
    else:
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
        write_text_atomic(f.json, json.dumps(res, indent=2) + "\n")
        print(f"wrote {f.json}")


def run() -> None:
    from absl import flags

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
    flags.DEFINE_string("beta", None, "adaptive ensembles: comma-separated eq. 8 betas")
    flags.DEFINE_bool("alone", False, "adaptive ensembles: also every candidate alone")
    flags.DEFINE_integer("blend", None, "adaptive ensembles: cross-fade (LR px; default: trained)")

    cli.main(main, stopped="evaluation stopped; no JSON written")


if __name__ == "__main__":
    run()
