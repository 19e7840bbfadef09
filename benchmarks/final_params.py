"""Final params of every method's demo config and the tiny test configs, to check a change
bit for bit.

    python -m benchmarks.final_params dump OUT_DIR [NAME ...]   # in each checkout; resumable
    python -m benchmarks.final_params compare DIR_A DIR_B       # identical arrays and reports?
    python -m benchmarks.final_params models MODEL_A MODEL_B    # two model dirs, e.g. demo runs
    python -m benchmarks.final_params list                      # the run names

`dump` trains each run (`RUNS`: tiny 8-feature MSRResNet x2 configs from tests/configs on a
TFDS copy of the embedded samples built in OUT_DIR, and every `configs/*.py:demo`), and
writes OUT_DIR/NAME.npz with the params of every `final_model` the run exported (keyed by
its stage folder) and OUT_DIR/NAME.json with the run's stage reports (`stages.json`,
`rounds.json`). A run whose .npz exists is skipped, so an interrupted dump resumes. A
refactor must leave every array and every report identical on the same machine (XLA:CPU
rounding depends on the CPU model: compare dumps made on one host). All demos and tiny runs
take about 15 min on 2 CPU cores.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jax
import numpy as np

import jaxsr  # noqa: F401  (XLA:CPU flags before a backend starts)

REPO = Path(__file__).resolve().parents[1]
# name: (config file, argument, overrides); tiny configs read the TFDS dir built in OUT_DIR
RUNS: dict[str, tuple[str, str | None, dict]] = {
    "dense": ("tests/configs/tiny.py", None, {"train.steps": 40}),
    "ema_clip": (
        "tests/configs/tiny.py",
        None,
        {"train.steps": 30, "optim.clip_norm": 0.5, "optim.ema_decay": 0.9},
    ),
    "upru": ("tests/configs/tiny_prune.py", "upru", {"train.steps": 20}),
    "dupru": ("tests/configs/tiny_prune.py", "dupru", {"train.steps": 20}),
    "tiny_nm": ("tests/configs/tiny_nm.py", None, {}),
    "tiny_sr_ste": ("tests/configs/tiny_nm.py", "sr_ste", {}),
    "tiny_sls": ("tests/configs/tiny_sls.py", None, {}),
    "tiny_l1": ("tests/configs/tiny_l1.py", None, {}),
    "tiny_fmp": ("tests/configs/tiny_fmp.py", None, {}),
    **{
        f"demo_{m}": (f"configs/{m}.py", "demo", {})
        for m in ("dense", "upru", "dupru", "nm_oneshot", "sr_ste", "sls", "l1_filter", "fmp")
    },
    "demo_adaptive": ("configs/adaptive.py", "demo", {}),
    "demo_structured_l1": ("configs/structured_compare.py", "method=l1,demo", {}),
}


def _flat(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {"/".join(str(k.key) for k in path): np.asarray(v) for path, v in leaves}


def _config(name: str, data: str):
    from jaxsr.configs_lib import load_sibling

    path, arg, over = RUNS[name]
    c = load_sibling(str(REPO / path), Path(path).name).get_config(arg)
    if path.startswith("tests/"):
        over = {"data.data_dir": data, **over}
    c.update_from_flattened_dict(over)
    return c


def dump(out: Path, names: list[str]) -> None:
    from jaxsr import model_dir, train

    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; known: {', '.join(RUNS)}")
    out.mkdir(parents=True, exist_ok=True)
    for name in names or RUNS:
        if (out / f"{name}.npz").exists():
            print(f"{name}: done before")
            continue
        work = out / "work" / name
        shutil.rmtree(work, ignore_errors=True)  # an interrupted run starts again from scratch
        train.run(_config(name, str(out / "tfds")), work, quiet=True)
        arrays = {}
        for d in sorted(work.rglob("final_model")):
            stage = d.parent.relative_to(work).as_posix()
            for k, v in _flat(model_dir.load_model(d)[1]).items():
                arrays[f"{stage}::{k}"] = v
        reports = {
            p.relative_to(work).as_posix(): json.loads(p.read_text())
            for p in sorted([*work.rglob("stages.json"), *work.rglob("rounds.json")])
        }
        text = json.dumps(reports, indent=1, sort_keys=True) + "\n"
        (out / f"{name}.json").write_text(text.replace(str(out), "DUMP"))
        np.savez(out / f"{name}.tmp.npz", **arrays)  # the .npz last: it marks the run done
        (out / f"{name}.tmp.npz").rename(out / f"{name}.npz")
        models = len({k.split("::")[0] for k in arrays})
        print(f"{name}: {len(arrays)} arrays from {models} model(s)")


def compare_models(a: Path, b: Path) -> bool:
    """Two model directories (e.g. the demo runs' final_model) hold identical params."""
    from jaxsr import model_dir

    x, y = (_flat(model_dir.load_model(d)[1]) for d in (a, b))
    ok = x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    print(f"{a} vs {b}: {'bit-identical' if ok else 'DIFFERENT'}")
    return ok


def compare(a: Path, b: Path) -> bool:
    """Every run dumped in both folders: identical arrays and reports (missing runs fail)."""
    same = True
    for name in RUNS:
        have = [(d / f"{name}.npz").exists() for d in (a, b)]
        if not any(have):
            continue
        if not all(have):
            print(f"{name}: only in {a if have[0] else b}")
            same = False
            continue
        x, y = np.load(a / f"{name}.npz"), np.load(b / f"{name}.npz")
        ok = x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)
        reports = [(d / f"{name}.json").read_text().replace(str(d), "DUMP") for d in (a, b)]
        ok &= reports[0] == reports[1]  # paths inside the dump folders (e.g. plots) aside
        print(f"{name}: {'bit-identical' if ok else 'DIFFERENT'}")
        same &= ok
    return same


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "dump":
        dump(Path(sys.argv[2]).absolute(), sys.argv[3:])
    elif len(sys.argv) == 2 and sys.argv[1] == "list":
        print("\n".join(RUNS))
    elif len(sys.argv) == 4 and sys.argv[1] == "models":
        raise SystemExit(0 if compare_models(Path(sys.argv[2]), Path(sys.argv[3])) else 1)
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        raise SystemExit(0 if compare(Path(sys.argv[2]), Path(sys.argv[3])) else 1)
    else:
        raise SystemExit(__doc__)
