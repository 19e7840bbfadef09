"""Cost of the trainer's non-finite guard (`jaxsr.nonfinite`), interleaved.

    python -m benchmarks.nonfinite_guard --models=msrresnet,rfdn --rounds=9

Times the trainer step (x4, batch 16, LR 24x24, L1 + Adam, 1 device) with the guard's parts
swapped: `none` (no params check, the update always applied: the step before the guard),
`norm+cond` (what the trainer uses on CPU: finite global norm of the new params, `lax.cond`),
`norm+where` (an elementwise select instead) and `leaf+cond` (`isfinite` of every param
instead of the norm). Each round runs every variant for `--iters` steps; medians reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)
from jaxsr import methods, models, nonfinite, train
from jaxsr.optim import make_optimizer


def _leaf_check(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _where(ok, new, old):
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


VARIANTS = {  # name: (params check, select)
    "none": (lambda t: jnp.asarray(True), lambda ok, new, old: new),
    "norm+cond": (nonfinite.tree_finite, nonfinite._cond),
    "norm+where": (nonfinite.tree_finite, _where),
    "leaf+cond": (_leaf_check, nonfinite._cond),
}


def step_inputs(name: str):
    """(model x4, host batch of 16 uint8 24x24 LR / 96x96 HR patches, Adam 1e-4 optimizer)."""
    model = models.create(name, 4)
    rng = np.random.default_rng(0)
    host = {
        "lr": rng.integers(0, 256, (16, 24, 24, 3), dtype=np.uint8),
        "hr": rng.integers(0, 256, (16, 96, 96, 3), dtype=np.uint8),
    }
    ocfg = ml_collections.ConfigDict(
        {"lr": 1e-4, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "schedule": "constant"}
    )
    return model, host, make_optimizer(ocfg)


def bench(name: str, rounds: int, iters: int) -> dict[str, float]:
    model, host, tx = step_inputs(name)
    mesh = train.make_mesh(1)
    batch = train.shard_batch(host, mesh)
    original = nonfinite.tree_finite, nonfinite.select
    steps, states = {}, {}
    try:
        for k, (check, select) in VARIANTS.items():
            nonfinite.tree_finite, nonfinite.select = check, select  # read when traced
            steps[k] = train.make_train_step(model, tx, "l1", 0.0, mesh, methods.Method())
            st = train.init_state(model, tx, 0, False, methods.Method())
            for _ in range(2):
                st, m = steps[k](st, batch)
            jax.block_until_ready(m)
            states[k] = st
    finally:
        nonfinite.tree_finite, nonfinite.select = original
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(rounds):
        for k in VARIANTS:
            t = time.perf_counter()
            for _ in range(iters):
                states[k], m = steps[k](states[k], batch)
            jax.block_until_ready((m, states[k].params))
            times[k].append((time.perf_counter() - t) / iters)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="msrresnet,rfdn")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    for name in args.models.split(","):
        med = bench(name, args.rounds, args.iters)
        rel = " ".join(f"{k}/none {med[k] / med['none']:.3f}" for k in list(VARIANTS)[1:])
        print(f"{name}: " + " ".join(f"{k} {v:.4f} s" for k, v in med.items()) + f"; {rel}")


if __name__ == "__main__":
    main()
