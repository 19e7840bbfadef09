"""What a short run pays before and around its steps: the input pipeline's shuffle and a new
process's imports, interleaved.

    python -m benchmarks.startup --rounds=5
    pip install --target=/tmp/mld7 --no-deps ml_dtypes==0.7.0
    python -m benchmarks.startup --rounds=5 --alt_path=/tmp/mld7   # + imports with 0.7.0

(a) `jaxsr.data.pipeline` batches/s on the embedded sample images (3 training images) with
`jaxsr.data.shuffle` (an epoch's order at once) and with grain's own
`source(range(n)).shuffle(seed).repeat()` (its cipher cycle-walked per element): the bench.py
setting (HR 96, x4, batch 16, 2 threads) and the tiny test configs' (HR 16, x2, batch 8,
1 thread); the two give the same batches (checked here). (b) Fresh processes: `import jax`
and `import jaxsr.train.__main__` (the trainer CLI's imports), with the installed packages
and, if `--alt_path` is given, with that directory first on `sys.path` (e.g. another
ml_dtypes). Medians over rounds; numbers in BENCHMARKS.md ("Start-up and input pipeline").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import grain
import numpy as np

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)
from jaxsr.configs_lib import SAMPLES
from jaxsr.data import pipeline, shuffle
from jaxsr.data.images import mod_crop, read_rgb
from jaxsr.data.imresize import downscale
from jaxsr.data.tfds_builders import Pairs

SETTINGS = {  # name: (HR patch, scale, batch, threads)
    "bench (HR 96, x4, batch 16, 2 threads)": (96, 4, 16, 2),
    "tiny tests (HR 16, x2, batch 8, 1 thread)": (16, 2, 8, 1),
}


def _pairs(scale: int) -> Pairs:
    paths = sorted(p for p in (SAMPLES / "train").iterdir() if p.suffix in (".png", ".jpg"))
    hrs = [mod_crop(read_rgb(p), scale) for p in paths]
    return Pairs([p.stem for p in paths], hrs, [downscale(h, scale) for h in hrs])


def _grain_order(n: int, seed: int) -> grain.MapDataset:
    return grain.MapDataset.source(np.arange(n)).shuffle(seed=seed).repeat()


def _batches_per_s(pairs: Pairs, setting: tuple, ours: bool, n: int) -> tuple[float, list]:
    hr, scale, batch, threads = setting
    saved = shuffle.shuffled_indices
    if not ours:
        shuffle.shuffled_indices = _grain_order
    try:
        it = pipeline.train_iterator(pipeline.train_dataset(pairs, hr, scale, batch, 0), threads)
        first = [next(it) for _ in range(3)]
        t = time.perf_counter()
        for _ in range(n):
            next(it)
        return n / (time.perf_counter() - t), first
    finally:
        shuffle.shuffled_indices = saved


def _import_s(stmt: str, path: str | None) -> float:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")])
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return float(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--alt_path", default="", help="a directory put first on sys.path")
    a = ap.parse_args()
    res: dict[str, list[float]] = {}
    for _ in range(a.rounds):
        for name, setting in SETTINGS.items():
            pairs = _pairs(setting[1])
            runs = {ours: _batches_per_s(pairs, setting, ours, a.batches) for ours in (True, False)}
            for x, y in zip(runs[True][1], runs[False][1], strict=True):
                for k in ("lr", "hr"):
                    np.testing.assert_array_equal(x[k], y[k])
            for ours, (rate, _) in runs.items():
                res.setdefault(f"{name}: {'jaxsr' if ours else 'grain'} shuffle", []).append(rate)
        for stmt in ("import jax", "import jaxsr.train.__main__"):
            for path in ["", a.alt_path] if a.alt_path else [""]:
                key = f"{stmt} ({'alt_path first' if path else 'installed'})"
                res.setdefault(key, []).append(_import_s(stmt, path))
    out = {k: {"median": statistics.median(v), "rounds": v} for k, v in res.items()}
    for k, v in out.items():
        unit = "s" if k.startswith("import") else "batches/s"
        print(f"{k:<75} {v['median']:8.3f} {unit}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
