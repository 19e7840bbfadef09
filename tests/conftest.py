"""Shared fixtures: where `../shared` (data, weights) is, and a skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
