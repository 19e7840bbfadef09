"""Train-step and input-pipeline benchmark, jaxsr vs PyTorch, interleaved.

    python -m benchmarks.bench --models=msrresnet,rfdn --rounds=7
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m benchmarks.bench

Per model (scale 4, batch 16, LR 24x24 / HR 96x96, L1 loss, Adam) it times, in interleaved
rounds: (a) jaxsr's trainer step (`jaxsr.train.make_train_step`: TrainState, mesh
shardings over all visible devices, donated buffers), (b) a bare jitted step of the same
model (value_and_grad + optax.adam, one device, no framework), (c) the same model in PyTorch
(`tests/torch_ref.py`, torch.optim.Adam), and reports medians. Achieved GFLOP/s counts
6 x forward conv MACs per sample (forward 2 FLOP/MAC, backward twice the forward). The input
pipeline is timed separately (patches/s of `jaxsr.data.pipeline` on the embedded samples).
Run from the repository root (needs the `test` extra for torch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxsr  # noqa: F401  (sets jaxsr's XLA:CPU flags before a JAX backend starts)


def _time(fn, iters: int) -> float:
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) / iters


def jax_steps(name: str, batch: int, lr_size: int, scale: int, method_name: str = "dense"):
    import ml_collections

    from jaxsr import models
    from jaxsr.methods import Method
    from jaxsr.optim import make_optimizer
    from jaxsr.train import init_state, make_mesh, make_train_step, shard_batch

    model = models.create(name, scale)
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (batch, lr_size, lr_size, 3), dtype=np.uint8)
    hr = rng.integers(0, 256, (batch, lr_size * scale, lr_size * scale, 3), dtype=np.uint8)
    ocfg = ml_collections.ConfigDict(
        {"lr": 1e-4, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "schedule": "constant"}
    )
    method = Method()
    if method_name == "dupru":  # masks on the default prunable params, 20 % pruned, freeze
        from jaxsr.methods.magnitude import MagnitudePruning
        from jaxsr.sparsity.masks import init_masks
        from jaxsr.sparsity.selection import rules_for

        p0 = models.init_params(model, 0)
        masks = jax.tree.map(
            lambda m: np.asarray(rng.uniform(size=m.shape) > 0.2), init_masks(p0, rules_for(name))
        )
        method = MagnitudePruning("dupru", masks, 1e-4, freeze="both")
    tx = method.optimizer(make_optimizer(ocfg))
    mesh = make_mesh()
    step = make_train_step(model, tx, "l1", 0.0, mesh, method)
    repl = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    holder = {"state": jax.device_put(init_state(model, tx, 0, False, method), repl)}
    b = shard_batch({"lr": lr, "hr": hr}, mesh)

    def trainer_step():
        holder["state"], m = step(holder["state"], b)
        jax.block_until_ready(m["loss"])

    # bare: the same computation, no TrainState, no shardings, no uint8 conversion in-step
    params = models.init_params(model, 0)
    opt = optax.adam(1e-4)
    bare_state = {"p": params, "o": opt.init(params)}
    x, y = jnp.asarray(lr, jnp.float32) / 255, jnp.asarray(hr, jnp.float32) / 255

    @jax.jit
    def bare(p, o, x, y):
        loss, g = jax.value_and_grad(
            lambda p: jnp.mean(jnp.abs(model.apply({"params": p}, x) - y))
        )(p)
        u, o = opt.update(g, o, p)
        return optax.apply_updates(p, u), o, loss

    def bare_step():
        bare_state["p"], bare_state["o"], loss = bare(bare_state["p"], bare_state["o"], x, y)
        jax.block_until_ready(loss)

    return trainer_step, bare_step, mesh.devices.size


def torch_step(name: str, batch: int, lr_size: int, scale: int):
    import torch

    from tests import torch_ref

    model, _ = torch_ref.build(name, scale)
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, lr_size, lr_size, generator=g)
    y = torch.rand(batch, 3, lr_size * scale, lr_size * scale, generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).abs().mean()
        loss.backward()
        opt.step()

    return step


def pipeline_rate(hr_patch: int, scale: int, batch: int, n_batches: int = 150) -> float:
    import tempfile

    from jaxsr.configs_lib import SAMPLES
    from jaxsr.data import pipeline, tfds_builders

    with tempfile.TemporaryDirectory() as d:
        b = tfds_builders.prepare(
            "sr_folder", d, splits={"train": [(str(SAMPLES / "train"), None)]}, scale=scale
        )
        pairs = tfds_builders.load_pairs(b, "train")
    it = pipeline.train_iterator(pipeline.train_dataset(pairs, hr_patch, scale, batch, seed=0))
    next(it)
    t = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    return n_batches * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="msrresnet,rfdn")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr_size", type=int, default=24)
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--pruning", action="store_true", help="also time a DUPru trainer step")
    ap.add_argument("--no_pipeline", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()

    from jaxsr import complexity

    results: dict[str, Any] = {
        "devices": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "platform": jax.default_backend(),
        "batch": a.batch,
        "lr_size": a.lr_size,
        "models": {},
    }
    for name in a.models.split(","):
        macs = complexity.report(name, a.scale, (a.lr_size, a.lr_size)).macs * a.batch
        tr, bare, ndev = jax_steps(name, a.batch, a.lr_size, a.scale)
        fns = {"jaxsr_trainer": tr, "jax_bare": bare}
        if a.pruning:
            fns["jaxsr_dupru"] = jax_steps(name, a.batch, a.lr_size, a.scale, "dupru")[0]
        if not a.no_torch:
            fns["pytorch"] = torch_step(name, a.batch, a.lr_size, a.scale)
        for fn in fns.values():  # compile / warm up
            fn()
            fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(a.rounds):
            for k, fn in fns.items():
                times[k].append(_time(fn, a.iters))
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            k: {"step_s": v, "patches_per_s": a.batch / v, "gflops": 6 * macs / v / 1e9}
            for k, v in med.items()
        }
        row["trainer_over_bare"] = med["jaxsr_trainer"] / med["jax_bare"]
        if "jaxsr_dupru" in med:
            row["dupru_over_dense"] = med["jaxsr_dupru"] / med["jaxsr_trainer"]
        if "pytorch" in med:
            row["pytorch_over_trainer"] = med["pytorch"] / med["jaxsr_trainer"]
        results["models"][name] = row
        print(
            f"{name} x{a.scale} batch {a.batch} LR {a.lr_size}^2 on {ndev} {jax.default_backend()} "
            f"device(s):"
        )
        for k, v in med.items():
            print(
                f"  {k:<14} {v:7.3f} s/step  {a.batch / v:7.1f} patches/s  "
                f"{6 * macs / v / 1e9:6.1f} GFLOP/s"
            )
        if "dupru_over_dense" in row:
            print(f"  dupru/dense trainer step {row['dupru_over_dense']:.3f}")
        print(
            f"  trainer/bare {row['trainer_over_bare']:.3f}"
            + (f"  pytorch/trainer {row['pytorch_over_trainer']:.3f}" if "pytorch" in med else "")
        )
    if not a.no_pipeline:
        rate = pipeline_rate(a.lr_size * a.scale, a.scale, a.batch)
        results["pipeline_patches_per_s"] = rate
        print(
            f"input pipeline: {rate:.0f} patches/s (HR {a.lr_size * a.scale}, x{a.scale}, "
            f"embedded samples)"
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
