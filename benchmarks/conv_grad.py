"""Per-conv gradient timings behind `jaxsr.xla_cpu`: XLA:CPU (as configured) vs PyTorch.

    python -m benchmarks.conv_grad                        # jaxsr's flags (YNNPACK convs off)
    JAXSR_NO_XLA_FLAGS=1 python -m benchmarks.conv_grad   # jaxlib's defaults

For each 3x3 conv shape of MSRResNet x4 at batch 16 (LR 24x24) it times the forward pass plus
both gradients (input and kernel) of `sum(conv(x, k) * dy)` in JAX and in PyTorch, in
interleaved rounds, and prints medians in ms. Needs the `test` extra (torch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxsr  # noqa: F401  (sets jaxsr's XLA:CPU flags before a JAX backend starts)

SHAPES = [  # (batch, height, width, in, out): body, upconv1, upconv2, conv_hr, conv_last
    (16, 24, 24, 64, 64),
    (16, 24, 24, 64, 256),
    (16, 48, 48, 64, 256),
    (16, 96, 96, 64, 64),
    (16, 96, 96, 64, 3),
]


def contenders(n: int, h: int, w: int, c: int, o: int) -> dict:
    """Zero-argument callables running forward + both gradients once, JAX and PyTorch."""
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    k = rng.standard_normal((3, 3, c, o), dtype=np.float32) * 0.05
    dy = rng.standard_normal((n, h, w, o), dtype=np.float32)

    def conv(x, k):
        return jax.lax.conv_general_dilated(
            x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    grad = jax.jit(jax.grad(lambda x, k, dy: jnp.vdot(conv(x, k), dy), argnums=(0, 1)))
    jx, jk, jdy = (jnp.asarray(t) for t in (x, k, dy))
    tconv = torch.nn.Conv2d(c, o, 3, padding=1, bias=False)
    tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
    tdy = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous()

    def jax_fn():
        jax.block_until_ready(grad(jx, jk, jdy))

    def torch_fn():
        tx.grad = None
        tconv.weight.grad = None
        tconv(tx).backward(tdy)

    return {"jax": jax_fn, "torch": torch_fn}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}  torch threads {torch.get_num_threads()}")
    for n, h, w, c, o in SHAPES:
        fns = contenders(n, h, w, c, o)
        for f in fns.values():
            f()
            f()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(a.rounds):
            for name, f in fns.items():
                t = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t)
        med = {name: 1e3 * statistics.median(v) for name, v in times.items()}
        print(
            f"{n}x{h}x{w} {c}->{o}: jax {med['jax']:7.1f} ms  torch {med['torch']:7.1f} ms  "
            f"torch/jax {med['torch'] / med['jax']:.2f}"
        )


if __name__ == "__main__":
    main()
