"""XLA:CPU settings that jaxsr applies before JAX starts its backends.

jaxlib 0.10 hands CPU convolutions to YNNPACK by default. Its backward convolutions are slow
for SR shapes: forward + gradients of a 3x3 64->64 conv at 16x96x96 take 1.40 s there against
0.18 s with XLA's Eigen convolution (2-core EPYC; BENCHMARKS.md), and an MSRResNet x4 train
step drops from ~2.4 s to 1.1-1.25 s. `configure()` therefore appends
`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` (YNNPACK keeps dots and
elementwise fusions) to `XLA_FLAGS`. It runs on `import jaxsr`; XLA reads the variable when the
first backend starts, so it only takes effect if no JAX computation ran before that import.
A flag the user already put in `XLA_FLAGS` is left alone; `JAXSR_NO_XLA_FLAGS=1` turns this off.
The flags only concern XLA:CPU and are ignored by GPU and TPU backends.
"""

from __future__ import annotations

import os
import warnings

CPU_FLAGS: dict[str, str] = {
    "--xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}
OPT_OUT = "JAXSR_NO_XLA_FLAGS"


def _backends_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - private module moved; assume not started
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(started and started())


def configure() -> list[str]:
    """Append jaxsr's XLA:CPU flags to `XLA_FLAGS` where missing; returns the flags added."""
    if os.environ.get(OPT_OUT, "") not in ("", "0"):
        return []
    current = os.environ.get("XLA_FLAGS", "")
    present = {tok.split("=", 1)[0] for tok in current.split()}
    missing = [f"{k}={v}" for k, v in CPU_FLAGS.items() if k not in present]
    if not missing:
        return []
    if _backends_started():
        import jax

        if jax.default_backend() == "cpu":
            warnings.warn(
                "jaxsr: JAX started its CPU backend before `import jaxsr`, so XLA_FLAGS "
                f"{' '.join(missing)} was not applied (conv gradients run several times "
                "slower); import jaxsr first or set it in XLA_FLAGS yourself",
                stacklevel=3,
            )
        return []
    os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()
    return missing
