"""CPU inference time of channel-pruned (L1 filter pruning) models vs their dense originals.

    python -m benchmarks.structured_speedup --models=rfdn,edsr_8_128,msrresnet \
        --targets=0.5,0.25 --rounds=7

For each model (x4, seeded init: time does not depend on the values) and each MACs target,
`jaxsr.channels.l1.plan` prunes every internal channel group to the same kept fraction (the
upsampler's sub-pixel groups and the image-channel convs stay whole, the default;
`--upsampler` prunes the sub-pixel groups too, never the image channels), surgery gives the
smaller registry model. One whole LR image of 320x180 (a 1280x720 output, the
papers' MACs convention) goes through each jitted forward pass; rounds run the dense model and
every pruned one in alternation (`iters` calls each, blocked on the result, after a warm-up).
Printed: median seconds, MACs ratio dense/pruned, measured speed-up dense/pruned, and their
ratio (the goal: speed-up >= 0.8 x MACs ratio). Numbers: BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)
from jaxsr import models
from jaxsr.channels import l1, surgery, trace


def _forward(model, params, x):
    fn = jax.jit(lambda p, a: model.apply({"params": p}, a))
    fn(params, x).block_until_ready()  # compile + warm-up
    fn(params, x).block_until_ready()
    return lambda: fn(params, x).block_until_ready()


def bench(
    name: str,
    targets: list[float],
    rounds: int,
    iters: int,
    scale: int = 4,
    upsampler: bool = False,
) -> list[dict]:
    model = models.create(name, scale=scale)
    params = models.init_params(model, 0)
    x = jax.random.uniform(jax.random.key(0), (1, 720 // scale, 1280 // scale, 3))
    contenders = {"dense": _forward(model, params, x)}
    graph = trace(model)
    plans = {}
    for t in targets:
        try:
            p = l1.plan(model, params, scale, t, upsampler=upsampler, scheme="joint")
        except ValueError as e:  # e.g. EDSR x4: the upsampler alone costs more than the target
            print(json.dumps({"model": name, "target": t, "skipped": str(e)}), flush=True)
            continue
        small = models.create(name, scale=scale, widths=p["widths"])
        plans[t] = p
        pruned = surgery.prune_params(params, graph, l1.keep_from_plan(p))
        contenders[t] = _forward(small, pruned, x)
    times: dict = {k: [] for k in contenders}
    for _ in range(rounds):
        for k, fn in contenders.items():
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            times[k].append((time.perf_counter() - t0) / iters)
    med = {k: statistics.median(v) for k, v in times.items()}
    out = []
    for t, p in plans.items():
        macs_ratio = p["dense_macs"] / p["macs"]
        speedup = med["dense"] / med[t]
        out.append(
            {
                "model": name,
                "target": t,
                "upsampler": upsampler,
                "fraction": round(p["fraction"], 4),
                "dense_gmacs": round(p["dense_macs"] / 1e9, 2),
                "gmacs": round(p["macs"] / 1e9, 2),
                "dense_s": round(med["dense"], 4),
                "pruned_s": round(med[t], 4),
                "macs_ratio": round(macs_ratio, 3),
                "speedup": round(speedup, 3),
                "speedup_over_macs_ratio": round(speedup / macs_ratio, 3),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rfdn,edsr_8_128,msrresnet")
    ap.add_argument("--targets", default="0.5,0.25")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument(
        "--upsampler", action="store_true", help="also prune the sub-pixel channel groups"
    )
    args = ap.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    for name in args.models.split(","):
        for row in bench(name, targets, args.rounds, args.iters, upsampler=args.upsampler):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
