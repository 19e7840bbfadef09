"""Dense training: one stage (in the workdir itself), the identity method."""

from __future__ import annotations

from typing import Any

from jaxsr.methods.base import Method, Stage, Start

SECTION = None


def default_config(name: str) -> None:
    del name


def check_config(cfg: Any) -> None:
    del cfg


def recipe(cfg: Any) -> list[Stage]:
    return [Stage("", int(cfg.train.steps), lambda ctx: Start(Method()))]
