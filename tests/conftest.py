"""Shared fixtures: where `../shared` (data, weights) is, and a skip when it is absent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import jaxsr  # noqa: F401  (its XLA:CPU flags must be set before any test starts JAX)
from jaxsr import compile_cache

REPO = Path(__file__).resolve().parents[1]

# JAX's persistent compilation cache (jaxsr.compile_cache): one per test session, not ~/.cache,
# unbounded (no LRU lock and scan of every entry on each write), shared by the xdist workers
# and the CLIs they start: the tests run the same small programs many times (each trainer
# re-jits its step, a new closure per run; each CLI run compiles again), and a hit loads the
# same executable (bit-identical results: tests/test_compile_cache.py, the resume tests)
if "JAXSR_COMPILE_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["JAXSR_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="jaxsr-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAXSR_COMPILE_CACHE"], True)
os.environ.setdefault("JAXSR_COMPILE_CACHE_MAX_BYTES", "-1")
compile_cache.enable()
# ... in the test processes only for compiles over 0.3 s (train steps, evaluations): a worker
# keeps its one-op programs in memory, and writing thousands of them cost more than it saved;
# the CLIs the tests start write every compile, as for users (a fresh process pays each one)
import jax  # noqa: E402

jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)


# the longest (> 1 min on 2 cores), scheduled before the other slow tests
LONGEST = ("test_fmp.py::test_table1", "test_devices.py::", "test_resume.py::")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the other slow ones, then the rest (stable within each
    kind): xdist's workers (`--dist=worksteal`) start the long ones at once and take the
    short ones from each other's queues at the end, instead of ending on one long test."""

    def rank(item: pytest.Item) -> int:
        if any(k in item.nodeid for k in LONGEST):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One TFDS data_dir for the session: each tiny config's dataset is built once, by the
    first test that trains on it, and read by the others (the TFDS builders' own tests
    build theirs in their tmp_path)."""
    return tmp_path_factory.mktemp("tfds")


def shared_dir() -> Path | None:
    env = os.environ.get("JAXSR_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if (cand / "data" / "benchmark").is_dir():
            return cand
    return None


SHARED = shared_dir()
needs_shared = pytest.mark.skipif(
    SHARED is None,
    reason="needs ../shared (benchmark data, weights): set JAXSR_SHARED or put it beside the repo",
)


@pytest.fixture(scope="session")
def shared() -> Path:
    if SHARED is None:
        pytest.skip("needs ../shared (set JAXSR_SHARED or place it beside the repo)")
    return SHARED


def run_with_8_cpu_devices(code: str, timeout: int = 900, args: Sequence[str] = ()) -> dict:
    """Run `code` (`sys.argv[1:]` = `args`) in a subprocess with 8 simulated XLA CPU devices;
    its last stdout line is JSON."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
    }
    r = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def complete_lines(path: Path) -> list[str]:
    """The lines of a file being appended to, without a last line still being written."""
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def sigkill_at_step(
    proc: subprocess.Popen,
    metrics: Path,
    step: int,
    timeout: float = 600,
    checkpointed: bool = False,
) -> int:
    """SIGKILL `proc` once `metrics` (a metrics.jsonl) logs `step` or later (and, if
    `checkpointed`, its stage has a complete checkpoint: Orbax commits asynchronously, so
    the rerun has one to resume from); returns the last step logged."""
    from jaxsr.files import checkpoint_steps

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists():
            lines = complete_lines(metrics)
            ready = not checkpointed or checkpoint_steps(metrics.parent / "checkpoints")
            if lines and json.loads(lines[-1])["step"] >= step and ready:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return json.loads(lines[-1])["step"]
        time.sleep(0.01)
    proc.wait()
    raise AssertionError(f"process ended before step {step} was logged in {metrics}")


def with_overrides(cfg, **over):
    """Set dotted config fields: `with_overrides(c, **{"train.steps": 5})`."""
    cfg.update_from_flattened_dict(over)
    return cfg


def tiny_config(name: str, arg: str | None = None, data_dir: Path | None = None):
    """`tests/configs/<name>.py:arg`, with its TFDS data under `data_dir` if given."""
    from jaxsr.configs_lib import load_sibling

    c = load_sibling(str(REPO / "tests" / "configs" / f"{name}.py"), f"{name}.py").get_config(arg)
    if data_dir is not None:
        c.data.data_dir = str(data_dir)
    return c


def flat_params(tree) -> dict:
    """'/'-joined path -> numpy array of every leaf of a params/masks pytree."""
    import numpy as np
    from flax import traverse_util

    return {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(tree).items()}
