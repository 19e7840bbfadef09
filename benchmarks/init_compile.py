"""Random init: XLA:CPU compile time of a rank-4 threefry draw vs the same bits drawn flat.

    python -m benchmarks.init_compile --rounds=3

Each measurement is a fresh process (no compile cache: `JAXSR_COMPILE_CACHE=0`, and no
persistent cache enabled) that times, interleaved per round: (a) `jax.random.uniform` and
`jax.random.normal` of conv-kernel shapes drawn as HWIO arrays, (b) the same draws as one
flat vector reshaped (`jaxsr.models.layers.fan_in_init`; the values are equal bit for bit,
checked here), and (c) `models.init_params` of every registry model with jaxsr's inits vs
with flax's `variance_scaling` (the previous inits). Medians over rounds. Numbers:
BENCHMARKS.md ("Compilation: random init").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SHAPES = [(3, 3, 3, 8), (3, 3, 8, 16), (3, 3, 16, 16), (1, 1, 64, 32), (8, 8, 8, 9)]

_CHILD = r"""
import json, math, sys, time
import jaxsr  # XLA:CPU flags
import jax, numpy as np
from flax import linen as nn
from jaxsr import models
from jaxsr.models import layers

mode, shapes = sys.argv[1], [tuple(s) for s in json.loads(sys.argv[2])]
key = jax.random.key(0)
out = {}
if mode in ("rank4", "flat"):
    t = time.perf_counter()
    vals = []
    for s in shapes:
        if mode == "rank4":
            u, n = jax.random.uniform(key, s), jax.random.normal(key, s)
        else:
            f = (math.prod(s),)
            u, n = jax.random.uniform(key, f).reshape(s), jax.random.normal(key, f).reshape(s)
        vals.append(float(np.asarray(u).sum() + np.asarray(n).sum()))
    out["seconds"] = time.perf_counter() - t
    out["checksum"] = vals
else:  # init of every registry model: jaxsr's inits ("jaxsr") or flax's ("flax")
    if mode == "flax":
        layers.fan_in_init = lambda scale, dist: nn.initializers.variance_scaling(
            scale, "fan_in", dist
        )
    t = time.perf_counter()
    sums = {}
    for name in models.names(None):
        p = models.init_params(models.create(name, 4), 0)
        sums[name] = float(sum(np.asarray(x, np.float64).sum() for x in jax.tree.leaves(p)))
    out["seconds"] = time.perf_counter() - t
    out["checksum"] = sums
print(json.dumps(out))
"""


def _child(mode: str) -> dict:
    env = {**os.environ, "JAXSR_COMPILE_CACHE": "0"}
    r = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, json.dumps(SHAPES)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    rounds = ap.parse_args().rounds
    modes = ("rank4", "flat", "flax", "jaxsr")
    times: dict[str, list[float]] = {m: [] for m in modes}
    sums: dict[str, object] = {}
    for i in range(rounds):
        for m in modes:
            res = _child(m)
            times[m].append(res["seconds"])
            sums.setdefault(m, res["checksum"])
            if res["checksum"] != sums[m]:
                raise SystemExit(f"{m}: round {i} drew other values")
        print(f"round {i + 1}: " + ", ".join(f"{m} {times[m][-1]:.2f} s" for m in modes))
    if sums["rank4"] != sums["flat"] or sums["flax"] != sums["jaxsr"]:
        raise SystemExit("flat draws differ from the rank-4 ones")
    print(f"medians of {rounds} rounds (identical values in each pair):")
    for m in modes:
        print(f"  {m:6s} {statistics.median(times[m]):6.2f} s")


if __name__ == "__main__":
    main()
