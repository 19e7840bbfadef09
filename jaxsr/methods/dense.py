"""Dense training: one stage (in the workdir itself), the identity method."""

from __future__ import annotations

from typing import Any

from jaxsr.methods.base import Method, Stage, Start
from jaxsr.methods.spec import MethodSpec


def recipe(cfg: Any) -> list[Stage]:
    return [Stage("", int(cfg.train.steps), lambda ctx: Start(Method()))]


SPEC = MethodSpec(
    name="dense",
    title="dense training (no pruning)",
    paper="-",
    config="configs/dense.py",
    exports="params",
    recipe=recipe,
)
