"""Final params of small dense / EMA+clip / UPru / DUPru runs, to check a change bit for bit.

    python -m benchmarks.final_params dump OUT_DIR          # in each checkout
    python -m benchmarks.final_params compare DIR_A DIR_B   # identical arrays and reports?
    python -m benchmarks.final_params models MODEL_A MODEL_B  # two model dirs, e.g. demo runs

Runs (tiny 8-feature MSRResNet x2 on the embedded samples, tests/configs): dense 40 steps;
EMA 0.9 + gradient clipping 0.5, 30 steps; UPru and DUPru, 3 rounds x 20 steps. A refactor
must leave every array and every `rounds.json` identical on the same machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)

REPO = Path(__file__).resolve().parents[1]
RUNS = ("dense", "ema_clip", "upru", "dupru")


def _flat(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(str(k.key) for k in path): np.asarray(v) for path, v in leaves}


def dump(out: Path) -> None:
    from jaxsr import model_dir, train
    from jaxsr.configs_lib import load_sibling

    tiny = load_sibling(str(REPO / "tests/configs/tiny.py"), "tiny.py").get_config
    prune = load_sibling(str(REPO / "tests/configs/tiny_prune.py"), "tiny_prune.py").get_config
    out.mkdir(parents=True, exist_ok=True)
    data = str(out / "tfds")

    def save(name: str, directory: Path) -> None:
        _, params, _ = model_dir.load_model(directory)
        np.savez(out / f"{name}.npz", **_flat(params))

    c = tiny()
    c.data.data_dir, c.train.steps = data, 40
    train.fit(c, out / "dense", quiet=True)
    save("dense", out / "dense" / "final_model")
    c = tiny()
    c.data.data_dir, c.train.steps, c.optim.clip_norm, c.optim.ema_decay = data, 30, 0.5, 0.9
    train.fit(c, out / "ema_clip", quiet=True)
    save("ema_clip", out / "ema_clip" / "final_model")
    for m in ("upru", "dupru"):
        c = prune(m)
        c.data.data_dir, c.train.steps = data, 20
        train.run(c, out / m, quiet=True)
        save(m, out / m / "round_03" / "final_model")


def _reports(workdir: Path) -> list[dict]:
    """Per-round reports: `rounds.json` (before the stage driver) or `stages.json`."""
    path = workdir / "rounds.json"
    if not path.exists():
        path = workdir / "stages.json"
    return [{k: v for k, v in r.items() if k != "stage"} for r in json.loads(path.read_text())]


def compare_models(a: Path, b: Path) -> bool:
    """Two model directories (e.g. the demo runs' final_model) hold identical params."""
    from jaxsr import model_dir

    x, y = (_flat(model_dir.load_model(d)[1]) for d in (a, b))
    ok = x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    print(f"{a} vs {b}: {'bit-identical' if ok else 'DIFFERENT'}")
    return ok


def compare(a: Path, b: Path) -> bool:
    same = True
    for name in RUNS:
        x, y = np.load(a / f"{name}.npz"), np.load(b / f"{name}.npz")
        ok = x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)
        if name in ("upru", "dupru"):
            ok &= _reports(a / name) == _reports(b / name)
        print(f"{name}: {'bit-identical' if ok else 'DIFFERENT'}")
        same &= ok
    return same


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(Path(sys.argv[2]).absolute())
    elif len(sys.argv) == 4 and sys.argv[1] == "models":
        raise SystemExit(0 if compare_models(Path(sys.argv[2]), Path(sys.argv[3])) else 1)
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        raise SystemExit(0 if compare(Path(sys.argv[2]), Path(sys.argv[3])) else 1)
    else:
        raise SystemExit(__doc__)
