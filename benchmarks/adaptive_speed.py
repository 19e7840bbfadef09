"""Wall time, realised GMACs and Y-PSNR of adaptive inference vs each candidate alone.

    python -m benchmarks.adaptive_speed --weights=workdirs/adaptive/estimator/final_model \
        --betas=0,0.05,0.1,0.2,0.5 --rounds=3 --plot=docs/adaptive_psnr_time.png

Images: `--mosaics` (default 4) 2K mosaics of B100 HR images (12 each, cropped to 480x320,
4 x 3 = 1920x960 HR; LR 480x240 by MATLAB bicubic), and/or `--sets` benchmark sets. Runs,
interleaved per round after one warm-up pass (compilation excluded): the ensemble at every
beta (estimators + routed candidates + blending), each candidate alone on the same tiles,
and each candidate on the whole image (`jaxsr.inference.Predictor`, no tiles). Printed: the
median seconds per image, GMACs per image (realised: N:M zeros not counted), Y-PSNR (crop =
scale), and the share of tiles per candidate. Numbers: BENCHMARKS.md, RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)


def mosaics(shared: Path, count: int, scale: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from jaxsr.data.images import list_images, read_image
    from jaxsr.data.imresize import downscale

    files = list_images(shared / "data/benchmark/B100/HR")
    out = []
    for k in range(count):
        tiles = []
        for p in files[12 * k : 12 * k + 12]:
            img = read_image(p)[0]
            if img.shape[0] > img.shape[1]:
                img = img.transpose(1, 0, 2)
            tiles.append(img[:320, :480])
        hr = np.concatenate([np.concatenate(tiles[4 * r : 4 * r + 4], 1) for r in range(3)], 0)
        out.append((f"mosaic{k}", downscale(hr, scale), hr))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--betas", default="0,0.05,0.1,0.2,0.5")
    ap.add_argument("--mosaics", type=int, default=4)
    ap.add_argument("--sets", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("JAXSR_SHARED", "../shared"))
    ap.add_argument("--plot", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()

    from jaxsr import metrics
    from jaxsr.adaptive import Ensemble
    from jaxsr.data.benchmark import load_set
    from jaxsr.inference import Predictor

    ens = Ensemble.load(a.weights)
    s = ens.scale
    images = mosaics(Path(a.shared), a.mosaics, s)
    for name in filter(None, a.sets.split(",")):
        bset = load_set(str(Path(a.shared) / "data/benchmark"), name, s)
        images += [(f"{name}/{p.name}", p.lr, p.hr) for p in bset.pairs]
    names = [
        Path(c.name).parent.name if c.module is not None else "bicubic" for c in ens.candidates
    ]
    runs: dict[str, object] = {f"beta {float(b):g}": float(b) for b in a.betas.split(",")}
    for i, n in enumerate(names):
        runs[f"{n} alone (tiles)"] = ("tiles", i)
        if ens.candidates[i].module is not None:
            runs[f"{n} alone (whole image)"] = ("whole", i)
    whole = {
        i: Predictor(c.module, c.params, s, max_pixels=1 << 40)
        for i, c in enumerate(ens.candidates)
        if c.module is not None
    }

    from jaxsr.complexity import pruned_report

    whole_macs = {
        (i, lr.shape[:2]): pruned_report(ens.candidates[i].name, lr.shape[:2]).macs
        for i in whole
        for _, lr, _ in images
    }

    def call(spec, lr):
        if isinstance(spec, float):
            r = ens(lr, spec)
            return r.image, r.macs, np.bincount(r.choices.ravel(), minlength=len(names))
        kind, i = spec
        g = ens.grid(*lr.shape[:2])
        if kind == "tiles":
            r = ens(lr, choices=np.full(g.shape, i))
            counts = np.bincount(r.choices.ravel(), minlength=len(names))
            return r.image, r.macs, counts
        return whole[i](lr), whole_macs[(i, lr.shape[:2])], np.zeros(len(names), np.int64)

    quality: dict[str, dict] = {}
    for key, spec in runs.items():  # warm-up (compiles) + quality, once
        ps, macs, counts = [], [], np.zeros(len(names), np.int64)
        for _, lr, hr in images:
            out, m, c = call(spec, lr)
            sr = metrics.to_uint8(out)
            ps.append(
                metrics.all_metrics(sr, hr[: sr.shape[0], : sr.shape[1]], crop_border=s)["psnr_y"]
            )
            macs.append(m)
            counts += c
        quality[key] = {
            "psnr_y": float(np.mean(ps)),
            "gmacs": float(np.mean(macs)) / 1e9,
            "share": (counts / max(counts.sum(), 1)).tolist(),
        }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(a.rounds):
        for key, spec in runs.items():
            t0 = time.perf_counter()
            for _, lr, _ in images:
                call(spec, lr)
            times[key].append((time.perf_counter() - t0) / len(images))
    rows = []
    print(
        f"{len(images)} images; candidates {names}; tiles core {ens.core} "
        f"context {ens.context} blend {ens.blend}"
    )
    print(f"{'run':<28}{'s/image':>9}{'GMACs':>9}{'Y-PSNR':>9}  share")
    for key in runs:
        q = quality[key]
        sec = statistics.median(times[key])
        rows.append({"run": key, "seconds": sec, **q})
        share = " ".join(f"{x:.2f}" for x in q["share"]) if key.startswith("beta") else ""
        print(f"{key:<28}{sec:>9.3f}{q['gmacs']:>9.2f}{q['psnr_y']:>9.3f}  {share}")
    if a.json:
        Path(a.json).write_text(
            json.dumps({"candidates": names, "images": len(images), "rows": rows}, indent=2) + "\n"
        )
    if a.plot:
        from jaxsr.figures import psnr_time_plot

        pts = [
            {
                "label": r["run"].replace(" alone", ""),
                "seconds": r["seconds"],
                "psnr": r["psnr_y"],
                "kind": "adaptive" if r["run"].startswith("beta") else "alone",
            }
            for r in rows
        ]
        psnr_time_plot(pts, a.plot, f"RFDN x4 SLS candidates + bicubic, {len(images)} images")


if __name__ == "__main__":
    main()
