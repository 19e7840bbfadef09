"""jaxsr's XLA:CPU flags: applied on import, leave user flags alone, warn when too late."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from jaxsr import xla_cpu

from .conftest import REPO

FLAG = "--xla_cpu_experimental_ynn_fusion_type"

# a conv's forward and both gradients; prints XLA_FLAGS and whether YNNPACK got a fusion
PROBE = """
import json, os
import jaxsr, jax, jax.numpy as jnp
x, k = jnp.ones((4, 24, 24, 64)), jnp.ones((3, 3, 64, 64))
conv = lambda x, k: jax.lax.conv_general_dilated(
    x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
g = jax.jit(jax.grad(lambda x, k: jnp.sum(conv(x, k) ** 2), argnums=(0, 1)))
hlo = g.lower(x, k).compile().as_text()
print(json.dumps({"flags": os.environ.get("XLA_FLAGS", ""), "ynn": "__ynn_fusion" in hlo}))
"""


def _probe(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_cpu.OPT_OUT)}
    r = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**base, "JAX_PLATFORMS": "cpu", **env},
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_keeps_convolutions_away_from_ynnpack():
    out = _probe()
    assert f"{FLAG}=-individual_convolution" in out["flags"].split()
    assert not out["ynn"]


def test_opt_out_leaves_xla_flags_alone_and_shows_why_they_exist():
    out = _probe(**{xla_cpu.OPT_OUT: "1"})
    assert FLAG not in out["flags"]
    # the premise of jaxsr.xla_cpu: by default this jaxlib sends convolutions to YNNPACK
    assert out["ynn"]


def test_user_flags_are_kept():
    user = ["--xla_force_host_platform_device_count=2", f"{FLAG}=individual_dot"]
    assert _probe(XLA_FLAGS=" ".join(user))["flags"].split() == user


def test_too_late_warns_and_changes_nothing(monkeypatch):
    jnp.ones(1).block_until_ready()  # the backend is running in this process
    monkeypatch.delenv(xla_cpu.OPT_OUT, raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    with pytest.warns(UserWarning, match="before `import jaxsr`"):
        assert xla_cpu.configure() == []
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_enable_fast_math=false"
