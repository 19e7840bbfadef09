"""Step time of the N:M methods and SLS against the dense step, interleaved in one process.

    python -m benchmarks.method_overhead --models=rfdn,msrresnet --rounds=9 --iters=3

For each model (x4, batch 16, LR 24x24 / HR 96x96 uint8 patches, L1 + Adam 1e-4, one CPU
device, donated state; `benchmarks.nonfinite_guard.step_inputs`), three jitted trainer steps
are built with `jaxsr.train.make_train_step`: dense (`Method()`), one-shot 2:4 (`NMOneShot`:
masks fixed, `keep_masked` last) and SR-STE 2:4 (`SRSTE`: masks recomputed from the weights in
every forward pass, λ_w term before Adam), on every conv but the first and last; and the SLS
search step (`jaxsr.methods.sls.SLS`, M = 32, 1280x720 costs, target never met so every
step searches) with re-ranking every 1000 steps (`sls`: the cond's branch not taken) and
every step (`sls_rerank1`). SLS's amortised step at re-ranking period R is
sls + (sls_rerank1 - sls) / R. Rounds run the variants in alternation (`iters` steps each,
blocked on the result); medians per step and the ratios to dense are printed (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)
from benchmarks.nonfinite_guard import step_inputs
from jaxsr import models, train
from jaxsr.methods import Method
from jaxsr.methods.nm_oneshot import NMOneShot
from jaxsr.methods.sls import SLS, layer_costs
from jaxsr.methods.sr_ste import SRSTE
from jaxsr.sparsity import prunable_paths
from jaxsr.sparsity.selection import ALL_BUT_ENDS_RULES


def bench(name: str, rounds: int, iters: int, n: int = 2, m: int = 4) -> dict[str, float]:
    import optax

    model, host, base = step_inputs(name)
    params = models.init_params(model, jax.random.PRNGKey(0))
    layers = dict.fromkeys(prunable_paths(params, ALL_BUT_ENDS_RULES[name]), (n, m))
    costs = _sls_costs(model, params, layers)
    variants = {
        "dense": Method(),
        "nm_oneshot": NMOneShot(layers=layers),
        "sr_ste": SRSTE(layers=layers),
        "sls": SLS(costs=costs, m=32, target=1e-6, rerank_every=1000),
        "sls_rerank1": SLS(costs=costs, m=32, target=1e-6, rerank_every=1),
    }
    mesh = train.make_mesh(1)
    batch = train.shard_batch(host, mesh)
    steps, states = {}, {}
    for k, method in variants.items():
        tx = optax.with_extra_args_support(method.optimizer(base))
        steps[k] = train.make_train_step(model, tx, "l1", 0.0, mesh, method)
        st = train.init_state(model, tx, 0, False, method, params)
        st = jax.tree.map(lambda x: jax.numpy.array(x, copy=True), st)  # own donated buffers
        for _ in range(2):  # compile + warm up
            st, out = steps[k](st, batch)
        jax.block_until_ready(out)
        states[k] = st
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for k in variants:
            t = time.perf_counter()
            for _ in range(iters):
                states[k], out = steps[k](states[k], batch)
            jax.block_until_ready((out, states[k].params))
            times[k].append((time.perf_counter() - t) / iters)
    return {k: statistics.median(v) for k, v in times.items()}


def _sls_costs(model, params, layers) -> dict:
    from flax import traverse_util

    shapes = {"/".join(k): v.shape for k, v in traverse_util.flatten_dict(params).items()}
    from jaxsr import complexity

    # per-unit MACs at a 1280x720 output, real weights only (the timed step's cost is the same
    # whatever units the regulariser is in)
    return layer_costs(
        model, {p: shapes[p] for p in layers}, 32, complexity.hd_lr_shape(4), "exact"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="rfdn,msrresnet")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    for name in args.models.split(","):
        med = bench(name, args.rounds, args.iters)
        ratios = {f"{k}/dense": med[k] / med["dense"] for k in med if k != "dense"}
        print(json.dumps({"model": name, "median_s": med, **ratios}))


if __name__ == "__main__":
    main()
