"""Training methods behind one interface (`Method`, `Stage`; see `base.py`) and their registry.

`config.method` names a registered method. Each method module provides

    default_config(name) -> ConfigDict | None   its config section (`config.<section>`)
    SECTION: str | None                         the name of that section
    check_config(cfg) -> None                   one-line ValueError before any compute
    recipe(cfg) -> list[Stage]                  the stages `jaxsr.train.run` drives

Register a new method with `register(name, "package.module")`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from jaxsr.methods.base import Context, Exported, Method, Stage, Start

__all__ = [
    "Context",
    "Exported",
    "Method",
    "Stage",
    "Start",
    "default_config",
    "get",
    "known",
    "recipe",
    "register",
]

_REGISTRY: dict[str, str] = {
    "dense": "jaxsr.methods.dense",
    "upru": "jaxsr.methods.magnitude",
    "dupru": "jaxsr.methods.magnitude",
    "nm_oneshot": "jaxsr.methods.nm_oneshot",
    "sr_ste": "jaxsr.methods.sr_ste",
    "sls": "jaxsr.methods.sls",
    "l1_filter": "jaxsr.methods.l1_filter",
    "fmp": "jaxsr.methods.fmp",
    "mse_estimator": "jaxsr.methods.mse_estimator",
}


def register(name: str, module: str) -> None:
    """Make `config.method=name` use the method module `module` (an import path)."""
    _REGISTRY[name] = module


def known() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> ModuleType:
    """The module of method `name`; one-line ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown config.method {name!r}; known: {', '.join(known())}")
    return importlib.import_module(_REGISTRY[name])


def default_config(name: str) -> Any:
    """The default config section of method `name` (None if it has none)."""
    return get(name).default_config(name)


def recipe(cfg: Any) -> list[Stage]:
    """The checked stages of `cfg.method` (ValueError before any compute)."""
    module = get(cfg.get("method", "dense"))
    section = getattr(module, "SECTION", None)
    if section and section not in cfg:
        raise ValueError(
            f"config.method={cfg.method!r} needs config.{section} "
            f"(start from jaxsr.methods.default_config({cfg.method!r}))"
        )
    module.check_config(cfg)
    return module.recipe(cfg)
