"""The CLIs' persistent compilation cache: a second run loads executables, same bytes out."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxsr import compile_cache, model_dir, models

from .conftest import REPO


def test_cache_dir_env_and_fingerprint(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.ENV, "0")
    assert compile_cache.cache_dir() is None
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path))
    assert compile_cache.cache_dir() == tmp_path
    monkeypatch.delenv(compile_cache.ENV)
    monkeypatch.setenv("XLA_FLAGS", "--a=1")
    a = compile_cache.cache_dir()
    monkeypatch.setenv("XLA_FLAGS", "--a=2")
    b = compile_cache.cache_dir()
    assert a != b and a.parent == b.parent and a.parent.name == "xla"


def test_size_cap_and_min_compile_time_env(monkeypatch):
    monkeypatch.delenv(compile_cache.MAX_ENV, raising=False)
    assert compile_cache.max_bytes() == compile_cache.MAX_BYTES == 2 << 30
    for value, want in (("-1", -1), ("1000", 1000), (" ", compile_cache.MAX_BYTES)):
        monkeypatch.setenv(compile_cache.MAX_ENV, value)
        assert compile_cache.max_bytes() == want
    for bad in ("0", "-2", "2G"):
        monkeypatch.setenv(compile_cache.MAX_ENV, bad)
        with pytest.raises(ValueError, match=f"JAXSR_COMPILE_CACHE_MAX_BYTES='{bad}'"):
            compile_cache.max_bytes()
    monkeypatch.delenv(compile_cache.MIN_SECS_ENV, raising=False)
    assert compile_cache.min_secs() == 0.0
    monkeypatch.setenv(compile_cache.MIN_SECS_ENV, "0.5")
    assert compile_cache.min_secs() == 0.5
    for bad in ("-1", "nan", "soon"):
        monkeypatch.setenv(compile_cache.MIN_SECS_ENV, bad)
        with pytest.raises(ValueError, match=f"JAXSR_COMPILE_CACHE_MIN_SECS='{bad}'"):
            compile_cache.min_secs()


def test_second_run_reads_the_cache_and_gives_identical_outputs(tmp_path):
    d = tmp_path / "m"
    over = {"num_feat": 8, "num_block": 2}
    model = models.create("msrresnet", 2, **over)
    model_dir.save_model(d, models.init_params(model, 0), "msrresnet", 2, over)
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    for i, shape in enumerate([(13, 17), (20, 11), (13, 17)]):
        Image.fromarray(rng.integers(0, 256, (*shape, 3), np.uint8)).save(src / f"{i}.png")
    cache = tmp_path / "cache"
    env = {**os.environ, compile_cache.ENV: str(cache), compile_cache.MIN_SECS_ENV: "0"}

    def run(out):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "jaxsr.upscale",
                f"--input={src}",
                f"--weights={d}",
                f"--out={out}",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        assert "AOT" not in r.stderr  # no rejected cache entries
        assert "filelock" not in r.stderr  # the cache's lock package is there
        return {p.name: np.asarray(Image.open(p)) for p in out.iterdir()}

    first = run(tmp_path / "a")
    entries = {p.name for p in cache.iterdir()}
    # the model's executables: one per distinct image shape, in exec_cache's entries (compiled
    # outside JAX's own cache, see below)
    assert sum(n.endswith("-jaxsr-exec") for n in entries) == 2
    second = run(tmp_path / "b")
    assert {p.name for p in cache.iterdir()} == entries  # nothing recompiled
    assert first.keys() == second.keys()
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
    # a jaxsr upgrade changes every exec_cache key while JAX's cache still holds the
    # programs: the new entries must come from fresh compiles (an executable JAX loaded from
    # its cache re-serializes without its functions on XLA:CPU: "Function ... not found")
    for p in cache.iterdir():
        if p.name.endswith("-jaxsr-exec"):
            p.unlink()
    third = run(tmp_path / "c")
    assert sum(p.name.endswith("-jaxsr-exec") for p in cache.iterdir()) == 2
    fourth = run(tmp_path / "d")  # loads the rewritten entries
    for k in first:
        np.testing.assert_array_equal(first[k], third[k])
        np.testing.assert_array_equal(first[k], fourth[k])


def test_the_caches_lock_package_is_a_core_dependency():
    """`pip install -e .` (the README's main command) brings filelock: without it JAX warns on
    every cache read and runs uncached (CI has it only through torch, from the test extra)."""
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.split(">")[0].split("=")[0].strip() == "filelock" for d in deps), deps


def test_cpu_id_tells_models_with_the_same_flags_apart():
    """Two CPU models with the same flags (XLA:CPU tunes for the model) get different cache
    directories; the order of the flags and later processors' blocks do not matter."""
    zen2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 49\n"
    zen2 += "model name\t: AMD EPYC\nstepping\t: 0\nflags\t\t: fma avx2 sse\n\n"
    other = zen2.replace("model\t\t: 49", "model\t\t: 1").replace("family\t: 23", "family\t: 25")
    a = compile_cache.cpu_id(zen2)
    assert a == ("flags=avx2 fma sse; vendor_id=AuthenticAMD; cpu family=23; model=49; stepping=0")
    assert compile_cache.cpu_id(other) != a
    shuffled = zen2.replace("fma avx2 sse", "sse fma avx2") + zen2.replace(": 49", ": 50")
    assert compile_cache.cpu_id(shuffled) == a
