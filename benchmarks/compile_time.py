"""Compilation vs PyTorch eager on a set of many image sizes (RFDN x4, whole images).

    python -m benchmarks.compile_time --rounds=3        # needs ../shared and torch

The set: 100 LR images with 37 distinct shapes — 65 B100 images (2 shapes) and the first 35
images of Set5, Set14, General100 (sorted) whose x4 LR shape is new — made from the HR files
by mod-crop + MATLAB bicubic (`jaxsr.data.imresize.downscale`). Each measurement is a fresh
process that first loads everything, then times the SR of all 100 images (outputs fetched to
numpy) twice: the first pass of a new process (for JAX: one compile per new shape), and a
second pass (compiled). Per round, interleaved: PyTorch eager (`tests/torch_ref.py` RFDN,
strict load of the published weights, 2 threads), jaxsr with an empty persistent compilation
cache ("cold"), and jaxsr again with the cache that run filled ("warm": a new run on a set
seen before). The warm outputs must equal the cold ones bit for bit. Numbers: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

B100_IMAGES, NEW_SHAPES, SCALE = 65, 35, 4


def build_set(shared: Path) -> list[np.ndarray]:
    from jaxsr.data.images import list_images, mod_crop, read_image
    from jaxsr.data.imresize import downscale

    def lr_of(p: Path) -> np.ndarray:
        return downscale(mod_crop(read_image(p)[0], SCALE), SCALE)

    b100 = [lr_of(p) for p in list_images(shared / "data/benchmark/B100/HR")[:B100_IMAGES]]
    shapes = {x.shape for x in b100}
    extra = []
    folders = ["data/benchmark/Set5/HR", "data/benchmark/Set14/HR", "data/train/General100/HR"]
    for p in [p for f in folders for p in list_images(shared / f)]:
        if len(extra) == NEW_SHAPES:
            break
        h, w = read_image(p)[0].shape[:2]
        shape = (h // SCALE, w // SCALE, 3)
        if shape not in shapes:
            shapes.add(shape)
            extra.append(lr_of(p))
    images = b100 + extra
    assert len(images) == 100 and len({x.shape for x in images}) == 37, len(images)
    return images


def _digest(outs: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for o in outs:
        h.update(np.ascontiguousarray(o, np.float32).tobytes())
    return h.hexdigest()[:16]


def worker(kind: str, data: Path, weights: Path) -> dict:
    images = list(np.load(data).values())
    if kind == "torch":
        import torch

        from tests.torch_eval import load_reference

        torch.set_num_threads(2)
        model, rng = load_reference(weights, "rfdn", SCALE)

        def sr(x):
            t = torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0 * rng
            with torch.no_grad():
                return (model(t) / rng)[0].permute(1, 2, 0).numpy()
    else:
        from jaxsr import compile_cache
        from jaxsr.inference import Predictor
        from jaxsr.model_dir import load_model

        cache = compile_cache.enable()  # $JAXSR_COMPILE_CACHE, set by the parent
        module, params, _ = load_model(weights)
        sr = Predictor(module, params, SCALE, cache_dir=cache)  # as evaluate/upscale do
    passes, per_image = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        outs = []
        for x in images:
            t1 = time.perf_counter()
            outs.append(np.asarray(sr(x)))
            per_image.append(time.perf_counter() - t1)
        passes.append(time.perf_counter() - t0)
    out = {"first": passes[0], "second": passes[1], "digest": _digest(outs)}
    if kind == "jax":  # executables loaded / compiled by jaxsr.exec_cache in the first pass
        out.update(loads=sr._fn.loads, compiles=sr._fn.compiles)
    pairs = zip(per_image[:100], per_image[100:], strict=True)
    out["slowest"] = sorted((round(a - b, 4), i) for i, (a, b) in enumerate(pairs))[-5:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared", default=os.environ.get("JAXSR_SHARED", "../shared"))
    ap.add_argument("--worker", choices=["jax", "torch"])
    ap.add_argument("--data")
    ap.add_argument("--weights")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, Path(a.data), Path(a.weights))))
        return
    shared = Path(a.shared)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images = build_set(shared)
        np.savez(tmp / "set.npz", *images)
        from jaxsr import model_dir
        from jaxsr.convert import import_torch

        _, params, _ = import_torch(str(shared / "weights/rfdn_x4.pth"), "rfdn", SCALE)
        model_dir.save_model(tmp / "rfdn", params, "rfdn", SCALE)

        def run(kind: str, weights: Path, cache: str) -> dict:
            env = {**os.environ, "JAXSR_COMPILE_CACHE": cache}
            cmd = [sys.executable, "-m", "benchmarks.compile_time", f"--worker={kind}"]
            cmd += [f"--data={tmp / 'set.npz'}", f"--weights={weights}"]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        res: dict[str, list[dict]] = {"torch": [], "cold": [], "warm": []}
        for r in range(a.rounds):
            cache = str(tmp / f"cache{r}")
            res["torch"].append(run("torch", shared / "weights", "0"))
            res["cold"].append(run("jax", tmp / "rfdn", cache))
            res["warm"].append(run("jax", tmp / "rfdn", cache))
            for k, v in res.items():
                f, s2 = v[-1]["first"], v[-1]["second"]
                print(f"round {r}: {k:<5} first {f:.2f} s, second {s2:.2f} s")
            assert res["warm"][-1]["digest"] == res["cold"][-1]["digest"], "cache changed outputs"
    med = {
        k: {p: statistics.median(x[p] for x in v) for p in ("first", "second")}
        for k, v in res.items()
    }
    t = med["torch"]["first"]
    print(f"medians of {a.rounds} rounds (100 images, 37 LR shapes, RFDN x4):")
    for k in ("torch", "cold", "warm"):
        f, s = med[k]["first"], med[k]["second"]
        print(f"  {k:<5} new process {f:.1f} s ({f / t:.2f}x PyTorch), compiled/2nd pass {s:.1f} s")
    print("warm outputs == cold outputs (bit for bit): yes")


if __name__ == "__main__":
    main()
