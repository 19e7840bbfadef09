"""Upscale your own images with a trained model: `python -m jaxsr.upscale` (`jaxsr-upscale`).

    python -m jaxsr.upscale --input=photo.jpg --weights=workdirs/run/final_model --out=sr/
    python -m jaxsr.upscale --input='shots/*.png' --weights=rfdn_x4.pth --model=rfdn --scale=4 \
        --out=sr/

Input: an image file, a folder (its images, not recursive) or a glob. Model: a jaxsr model dir,
or a `.pth` with `--model`/`--scale`. Output: `OUT/<name>_x<scale>.png` per input, written to
a temporary sibling and renamed (a kill never leaves a half-written PNG; a killed run's
temporaries are removed by the next run); an output that exists is an error unless
`--overwrite` (replace it) or `--skip_existing` (keep it and do only the rest: the rerun after
a Ctrl-C), and an output path that is one of the inputs is always an error. Everything
(inputs readable, outputs free, model loadable) is checked before the first image is
computed, and `--out` is created only then.

Inference is `jaxsr.inference.Predictor`: whole-image below `--max_pixels` LR pixels, else
overlapping tiles of `--tile` (exact for bounded receptive fields, see its docstring); jit
compiles once per input (or tile) shape and reuses it across images. Grayscale files give
grayscale PNGs (the model sees three equal channels; the output is their mean); RGBA files
keep their alpha channel, upscaled with bicubic interpolation; 16-bit files are read at
8-bit precision (`jaxsr.data.images`) and written as 8-bit PNGs (the models were trained on
8-bit images). The EXIF orientation is applied, so outputs look as the inputs do in a viewer.

Adaptive mode (SLS §3.6): `--weights` an MSE-estimator model dir (`configs/adaptive.py`) runs
its ensemble (`jaxsr.adaptive.Ensemble`, eq. 8 with `--beta`) on tiles and also writes
`<name>_x<scale>_choices.png` (the output in grey tinted per tile by the chosen candidate,
like SLS Fig. 3) and `<name>_x<scale>_choices.json` (the candidates, the choice per tile,
the share of tiles per candidate and the realised GMACs).
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from jaxsr import cli, compile_cache, files, startpoints
from jaxsr.adaptive import Ensemble, choice_map
from jaxsr.convert import parse_overrides
from jaxsr.data.images import IMAGE_SUFFIXES, read_image
from jaxsr.evaluate import is_estimator, parse_betas
from jaxsr.files import write_text_atomic
from jaxsr.inference import Predictor
from jaxsr.progress import Progress

ALIGN = 12  # jaxsr.inference.Predictor's tile alignment


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


def find_inputs(spec: str) -> list[Path]:
    """The images named by `spec`: a file, a folder's images (sorted) or a glob (sorted)."""
    p = Path(spec)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"--input={spec}: no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if p.is_file():
        return [p]
    if any(c in spec for c in "*?["):
        files = sorted(
            Path(q)
            for q in glob.glob(spec)
            if Path(q).is_file() and Path(q).suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise FileNotFoundError(f"--input={spec}: the pattern matches no image file")
        return files
    raise FileNotFoundError(f"--input={spec}: no such file, folder or pattern")


CHOICES = ("_choices.png", "_choices.json")  # adaptive mode's extra outputs per image


def plan(
    inputs: list[Path],
    out: Path,
    scale: int,
    overwrite: bool = False,
    extras: tuple = (),
    skip_existing: bool = False,
) -> list[Job]:
    """Output path per input (and its `extras` suffixes); refuses name clashes, overwriting
    an input, or (without `overwrite`) an existing output — all before any compute. With
    `skip_existing`, an input whose outputs all exist gets no job (one with only some of
    them is redone)."""
    if overwrite and skip_existing:
        raise ValueError("--overwrite and --skip_existing: choose one")
    sources = {p.resolve() for p in inputs}
    jobs, seen = [], {}
    for src in inputs:
        dst = out / f"{src.stem}_x{scale}.png"
        paths = (dst, *(dst.with_name(dst.stem + e) for e in extras))
        for path in paths:
            if path.resolve() in sources:
                raise ValueError(f"{path}: is one of the inputs; choose another --out")
            if path in seen:
                raise ValueError(f"{src} and {seen[path]} would both write {path}")
            seen[path] = src
        if skip_existing and all(p.exists() for p in paths):
            continue
        for path in paths:
            if path.exists() and not (overwrite or skip_existing):
                raise FileExistsError(
                    f"{path}: exists (use --overwrite to replace it, --skip_existing to keep it)"
                )
        jobs.append(Job(src, dst))
    return jobs


def remove_temporaries(jobs: list[Job], extras: tuple = ()) -> int:
    """Delete the temporary siblings (`.NAME.tmp-PID`, `.NAME.tmp`) a killed run left beside
    these jobs' outputs; how many."""
    n = 0
    for job in jobs:
        for path in (job.target, *(job.target.with_name(job.target.stem + e) for e in extras)):
            for tmp in path.parent.glob(f".{glob.escape(path.name)}.tmp*"):
                tmp.unlink(missing_ok=True)
                n += 1
    return n


def check_readable(path: Path) -> None:
    """Decode `path` as the run will (one-line error naming it if it cannot be used)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_image(path)
    _exif(path)


def _exif(path: Path) -> bytes:
    """The file's EXIF block (empty if none), checked: a broken one is a one-line error."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            int(exif.get(0x0112, 1) or 1)  # the orientation tag must be a number
            return exif.tobytes() if exif else b""
    except Exception as e:  # noqa: BLE001 - a broken EXIF block makes the file unusable here
        raise ValueError(f"{path}: unreadable EXIF ({' '.join(str(e).split())})") from None


def _orient(arr: np.ndarray, exif: bytes) -> np.ndarray:
    """`arr` (H, W[, C], any dtype Pillow holds per channel) as viewers show a file with this
    EXIF block (`PIL.ImageOps.exif_transpose`, channel by channel)."""
    if not exif:
        return arr

    def one(plane: np.ndarray) -> np.ndarray:
        im = Image.fromarray(plane)
        im.info["exif"] = exif
        return np.asarray(ImageOps.exif_transpose(im))

    if arr.ndim == 2:
        return one(arr)
    return np.stack([one(arr[..., c]) for c in range(arr.shape[-1])], axis=-1)


def _alpha(path: Path) -> np.ndarray | None:
    """The alpha channel as float [0, 1] (H, W), or None."""
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
            return np.asarray(im.convert("RGBA"))[..., 3].astype(np.float32) / 255.0
    return None


def upscale_image(sr_fn: Any, path: Path, scale: int) -> np.ndarray:
    """uint8 output image (H*s, W*s) gray, (H*s, W*s, 3) RGB or (H*s, W*s, 4) RGBA."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "alpha dropped": it is put back below
        rgb, gray = read_image(path)
    exif = _exif(path)
    rgb = _orient(rgb, exif)
    sr = np.clip(np.asarray(sr_fn(rgb), np.float32), 0.0, 1.0)
    out = sr.mean(axis=-1, keepdims=True) if gray else sr
    alpha = _alpha(path)
    if alpha is not None:
        alpha = _orient(alpha, exif)
        h, w = sr.shape[:2]
        a = Image.fromarray(alpha).resize((w, h), Image.Resampling.BICUBIC)
        out = np.concatenate([out, np.clip(np.asarray(a), 0, 1)[..., None]], axis=-1)
    img = np.round(out * 255.0).astype(np.uint8)
    return img[..., 0] if img.shape[-1] == 1 else img


def write_png_atomic(path: Path, image: np.ndarray) -> None:
    """Write a PNG via a temporary sibling and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        Image.fromarray(image).save(tmp, format="PNG")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_jobs(sr_fn: Any, jobs: list[Job], scale: int, show: bool = True, after: Any = None) -> None:
    """Upscale every job; `after(job)` runs once its PNG is written (adaptive extras)."""

    bar = Progress(len(jobs), "upscale") if show else None
    for job in jobs:
        image = upscale_image(sr_fn, job.source, scale)
        try:
            write_png_atomic(job.target, image)
            if after is not None:
                after(job)
        except BaseException:  # a job's outputs appear together or not at all
            for p in (job.target, *(job.target.with_name(job.target.stem + e) for e in CHOICES)):
                p.unlink(missing_ok=True)
            raise
        if bar:
            bar.update(postfix=job.target.name)


class AdaptiveFn:
    """`rgb -> HR` through an ensemble at one beta, keeping the last result for its map."""

    def __init__(self, ens: Any, beta: float) -> None:
        self.ens, self.beta, self.last = ens, beta, None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        self.last = self.ens(rgb, self.beta)
        self.last_shape = rgb.shape[:2]
        return self.last.image

    def write_extras(self, job: Job) -> None:
        import json

        res, g = self.last, self.ens.grid(*self.last_shape)
        write_png_atomic(
            job.target.with_name(job.target.stem + CHOICES[0]),
            choice_map(res.image, res.choices, g),
        )
        names = [c.name for c in self.ens.candidates]
        counts = np.bincount(res.choices.ravel(), minlength=len(names))
        doc = {
            "input": str(job.source),
            "beta": self.beta,
            "candidates": names,
            "colours": ["red", "orange", "green", "blue", "purple", "brown"][: len(names)],
            "choices": res.choices.tolist(),
            "share": (counts / counts.sum()).tolist(),
            "gmacs": res.macs / 1e9,
            "tiling": {"core": self.ens.core, "context": self.ens.context, "blend": self.ens.blend},
        }
        write_text_atomic(
            job.target.with_name(job.target.stem + CHOICES[1]), json.dumps(doc, indent=2) + "\n"
        )


def main() -> None:
    from absl import flags

    compile_cache.enable()  # one compile per image shape, reused by later runs
    f = flags.FLAGS
    with cli.checking():
        inputs = find_inputs(f.input)
        for p in inputs:
            check_readable(p)
        for name in ("tile", "max_pixels"):
            if getattr(f, name) <= 0:
                raise ValueError(f"--{name}={getattr(f, name)} must be > 0")
        if f.overlap < 0 or f.tile - 2 * f.overlap < ALIGN:
            raise ValueError(
                f"--overlap={f.overlap}, --tile={f.tile}: need overlap >= 0 and "
                f"tile - 2 * overlap >= {ALIGN} (the tile step is a multiple of {ALIGN})"
            )
        if not Path(f.weights).exists():
            raise FileNotFoundError(f"--weights={f.weights}: no such file or model directory")
        out = files.check_output_dir(f.out, "--out", create=False)

        adaptive = is_estimator(f.weights)
        if adaptive:
            if f.model or f.scale or f.override:
                raise ValueError(
                    f"--weights={f.weights} is an adaptive ensemble: "
                    "drop --model/--scale/--override"
                )
            betas = parse_betas(f.beta)
            if len(betas) != 1:
                raise ValueError(f"--beta={f.beta!r}: upscale takes one value")
            beta = betas[0]
            ens = Ensemble.load(f.weights, blend=f.blend)
            ens.grid(ens.window, ens.window)  # a bad --blend: one line, before compute
            scale = ens.scale
        else:
            if f.blend is not None or parse_betas(f.beta) != [0.0]:
                raise ValueError(f"--beta/--blend need MSE-estimator weights, not {f.weights}")
            module, params, _, scale = startpoints.load_model(
                f.weights, f.model, f.scale, parse_overrides(f.override)
            )
        extras = CHOICES if adaptive else ()
        jobs = plan(inputs, out, scale, f.overwrite, extras, f.skip_existing)
        out.mkdir(parents=True, exist_ok=True)  # every check passed
        remove_temporaries(jobs, extras)
    if len(jobs) < len(inputs):
        print(f"--skip_existing: {len(inputs) - len(jobs)} of {len(inputs)} image(s) done before")
    if adaptive:
        sr_fn = AdaptiveFn(ens, beta)
        run_jobs(sr_fn, jobs, scale, after=sr_fn.write_extras)
    else:
        sr_fn = Predictor(
            module,
            params,
            scale,
            f.tile,
            f.overlap,
            f.max_pixels,
            cache_dir=compile_cache.enabled_dir(),
        )
        run_jobs(sr_fn, jobs, scale)
    print(f"wrote {len(jobs)} image(s) to {out}")


def run() -> None:
    from absl import flags

    flags.DEFINE_string("input", None, "image file, folder or glob", required=True)
    flags.DEFINE_string("weights", None, "jaxsr model dir or .pth file", required=True)
    flags.DEFINE_string("out", None, "output folder for the PNGs", required=True)
    flags.DEFINE_string("model", None, "registry name (needed with a .pth)")
    flags.DEFINE_integer("scale", None, "upscaling factor (needed with a .pth)")
    flags.DEFINE_multi_string("override", [], "model field override key=value")
    flags.DEFINE_bool("overwrite", False, "replace existing outputs")
    flags.DEFINE_bool("skip_existing", False, "keep existing outputs, do only the rest")
    flags.DEFINE_integer("tile", 512, "LR tile size for large images")
    flags.DEFINE_integer("overlap", 32, "LR tile overlap")
    flags.DEFINE_integer("max_pixels", 1024 * 1024, "LR pixels above which an image is tiled")
    flags.DEFINE_string("beta", "0", "adaptive ensembles: eq. 8 beta (0: most accurate)")
    flags.DEFINE_integer("blend", None, "adaptive ensembles: cross-fade (LR px; default: trained)")

    cli.main(main, stopped="stopped; the images written so far are complete")


if __name__ == "__main__":
    run()
