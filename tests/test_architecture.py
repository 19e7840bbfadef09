"""The package's layering (pyproject's import-linter contracts) and the start-points layer."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

from jaxsr import methods, models, startpoints, state

REPO = Path(__file__).resolve().parents[1]


def test_no_import_goes_up_a_layer_or_round_a_cycle():
    """`lint-imports` (function-level imports count): the layers of pyproject.toml hold and
    no two modules of a package import each other, even indirectly."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is in the test extra"
    r = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "2 kept, 0 broken" in r.stdout, r.stdout[-2000:]


def test_every_module_has_a_layer():
    """A module missing from the layers would be unconstrained: each top-level module and
    package of jaxsr is named in exactly one layer."""
    import tomllib

    conf = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in conf["contracts"] if c["type"] == "layers"]
    named = [m.strip() for layer in layers for m in layer.replace(":", "|").split("|")]
    pkg = REPO / "jaxsr"
    present = {
        f"jaxsr.{p.stem}" if p.is_file() else f"jaxsr.{p.name}"
        for p in pkg.iterdir()
        if (p.suffix == ".py" and not p.name.startswith("__")) or (p / "__init__.py").exists()
    }
    assert sorted(named) == sorted(set(named)), "a module in two layers"
    assert set(named) == present, (sorted(present - set(named)), sorted(set(named) - present))


def _cfg(seed: int = 3):
    import ml_collections

    c = ml_collections.ConfigDict()
    c.seed, c.init_from = seed, ""
    c.model = ml_collections.ConfigDict({"name": "msrresnet", "scale": 2, "overrides": {}})
    c.model.overrides = {"num_feat": 8, "num_block": 1}
    return c


def test_no_method_name_is_tested_outside_its_module():
    """What the rest of jaxsr needs to know about a method comes from its `MethodSpec`: no
    comparison with a method's name outside `jaxsr/methods/` (e.g. `method == "dupru"`)."""
    names = "|".join(methods.known())
    test = re.compile(rf"""[=!]=\s*["']({names})["']|["']({names})["']\s*[=!]=""")
    found = [
        f"{p.relative_to(REPO)}:{i}"
        for p in sorted((REPO / "jaxsr").rglob("*.py"))
        if "methods" not in p.relative_to(REPO / "jaxsr").parts
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if test.search(line)
    ]
    assert not found, found


def test_seeded_params_are_the_trainers_step_0_params():
    """Methods that start from the seeded init (UPru's W0, L1 without pretraining) get the
    params the trainer itself starts from with the same seed: same key, bit for bit."""
    cfg = _cfg()
    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    st = state.init_state(model, optax.adam(1e-3), 3, False, methods.Method())
    a = jax.tree.leaves(startpoints.seeded_params(cfg, model))
    b = jax.tree.leaves(st.params)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert startpoints.initial_params(cfg, model) is None
    c = jax.tree.leaves(startpoints.start_params(cfg, model))
    assert all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_once_computes_on_the_first_start_and_reads_back_after(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"a": 1.25}

    def save(path: Path, value):
        final = path.with_name(path.name.removeprefix(".tmp-"))
        assert path.name.startswith(".tmp-") and not final.exists()
        path.write_text(json.dumps(value))

    def load(path: Path):
        return json.loads(path.read_text())

    assert startpoints.once(tmp_path / "v.json", compute, save, load) == {"a": 1.25}
    assert startpoints.once(tmp_path / "v.json", compute, save, load) == {"a": 1.25}
    assert calls == [1] and sorted(p.name for p in tmp_path.iterdir()) == ["v.json"]

    def killed(path: Path, value):  # a kill inside save: nothing at the final path
        path.write_text("{")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        startpoints.once(tmp_path / "w.json", compute, killed, load)
    assert not (tmp_path / "w.json").exists()
    assert startpoints.once(tmp_path / "w.json", compute, save, load) == {"a": 1.25}
    assert not (tmp_path / ".tmp-w.json").exists()


def test_load_model_checks_before_loading(tmp_path):
    from jaxsr import model_dir

    model = models.create("msrresnet", 2, num_feat=8, num_block=1)
    params = startpoints.seeded_params(_cfg(), model)
    d = model_dir.save_model(
        tmp_path / "m", params, "msrresnet", 2, {"num_feat": 8, "num_block": 1}, source="t"
    )
    _, loaded, name, scale = startpoints.load_model(d)
    assert (name, scale) == ("msrresnet", 2)
    assert all(
        np.array_equal(x, y)
        for x, y in zip(jax.tree.leaves(loaded), jax.tree.leaves(params), strict=True)
    )
    with pytest.raises(ValueError, match=r"holds a x2 model, not x4"):
        startpoints.load_model(d, "msrresnet", 4)
    with pytest.raises(ValueError, match=r"holds model 'msrresnet', not 'rfdn'"):
        startpoints.load_model(d, "rfdn")
    with pytest.raises(FileNotFoundError, match=r"no such file or model directory"):
        startpoints.load_model(tmp_path / "none.pth", "rfdn", 4)
    with pytest.raises(ValueError, match=r"--model and --scale are required"):
        startpoints.load_model(tmp_path / "none.pth")


def test_console_scripts_load_their_mains():
    """Every `[project.scripts]` entry (jaxsr-train, jaxsr-experiment, ...) names a function."""
    import importlib
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"jaxsr-train", "jaxsr-experiment", "jaxsr-evaluate", "jaxsr-upscale"} <= set(scripts)
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
