"""This checkout's trainer step against another checkout's, interleaved in one process.

    git worktree add /tmp/before <a commit with jaxsr/train/step.py>
    python -m benchmarks.step_vs_checkout --other=/tmp/before --models=msrresnet,rfdn --rounds=9

The other checkout's `jaxsr/train/step.py` is loaded under another module name (it imports
the rest of jaxsr from this checkout, so it must share the layout and `make_train_step`/
`init_state`'s signatures: checkouts from the stage-driver commit on); both steps (x4,
batch 16, LR 24x24, L1 + Adam, all devices, donated state) run in alternation, each call
blocked on its loss as `benchmarks.bench` does. Medians reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import jax

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)
from benchmarks.nonfinite_guard import step_inputs
from jaxsr.train import step as this


def load_other(checkout: Path):
    path = checkout / "jaxsr" / "train" / "step.py"
    spec = importlib.util.spec_from_file_location("jaxsr_other_trainer", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # flax.struct dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def compare(name: str, other, rounds: int, iters: int) -> dict[str, float]:
    model, host, tx = step_inputs(name)
    runs = {}
    for key, mod in (("other", other), ("this", this)):
        mesh = mod.make_mesh()
        step = mod.make_train_step(model, tx, "l1", 0.0, mesh, mod.Method())
        repl = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        state = jax.device_put(mod.init_state(model, tx, 0, False, mod.Method()), repl)
        batch = mod.shard_batch(host, mesh)
        for _ in range(2):
            state, m = step(state, batch)
            jax.block_until_ready(m["loss"])
        runs[key] = [step, state, batch]
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            step, state, batch = run
            t = time.perf_counter()
            for _ in range(iters):
                state, m = step(state, batch)
                jax.block_until_ready(m["loss"])
            times[key].append((time.perf_counter() - t) / iters)
            run[1] = state
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=True, help="root of the other checkout")
    ap.add_argument("--models", default="msrresnet,rfdn")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=2)
    args = ap.parse_args()
    other = load_other(Path(args.other))
    for name in args.models.split(","):
        med = compare(name, other, args.rounds, args.iters)
        print(
            f"{name}: other {med['other']:.4f} s/step, this {med['this']:.4f} s/step, "
            f"this/other {med['this'] / med['other']:.3f}"
        )


if __name__ == "__main__":
    main()
