"""Training methods behind one interface (`Method`, `Stage`; see `base.py`) and their registry.

`config.method` names a registered method. Each is described by a `MethodSpec` (`spec.py`):
name, what it is and its paper, the config file that runs it, its config section with its
defaults and checks, its recipe of stages (`jaxsr.train.stages` drives them), what it exports
and the kind of model it trains. `recipe(cfg)` checks the section's keys against the
defaults (unknown or missing keys are one-line errors) for every method in one place, then
the method's own checks.

Register a new method with `register(name, spec)` or `register(name, "pkg.module:ATTR")`
(an import path to a `MethodSpec`; without ":ATTR", the module's `SPEC`).
"""

from __future__ import annotations

import importlib
from typing import Any

from jaxsr.methods import spec as _spec
from jaxsr.methods.base import Context, Exported, Method, Stage, Start
from jaxsr.methods.spec import MethodSpec

__all__ = [
    "Context",
    "Exported",
    "Method",
    "MethodSpec",
    "Stage",
    "Start",
    "check",
    "default_config",
    "known",
    "markdown_table",
    "recipe",
    "register",
    "spec",
]

_REGISTRY: dict[str, str | MethodSpec] = {
    "dense": "jaxsr.methods.dense:SPEC",
    "upru": "jaxsr.methods.magnitude:UPRU",
    "dupru": "jaxsr.methods.magnitude:DUPRU",
    "nm_oneshot": "jaxsr.methods.nm_oneshot:SPEC",
    "sr_ste": "jaxsr.methods.sr_ste:SPEC",
    "sls": "jaxsr.methods.sls:SPEC",
    "l1_filter": "jaxsr.methods.l1_filter:SPEC",
    "fmp": "jaxsr.methods.fmp:SPEC",
    "mse_estimator": "jaxsr.methods.mse_estimator:SPEC",
}


def register(name: str, target: str | MethodSpec) -> None:
    """Make `config.method=name` use `target`: a `MethodSpec` or an import path to one."""
    _REGISTRY[name] = target


def known() -> list[str]:
    return sorted(_REGISTRY)


def spec(name: str) -> MethodSpec:
    """The spec of method `name`; one-line ValueError listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown config.method {name!r}; known: {', '.join(known())}")
    target = _REGISTRY[name]
    if isinstance(target, MethodSpec):
        return target
    module, _, attr = target.partition(":")
    found = getattr(importlib.import_module(module), attr or "SPEC")
    if not isinstance(found, MethodSpec) or found.name != name:
        raise TypeError(f"method {name!r}: {target} is not the MethodSpec of {name!r}")
    return found


def default_config(name: str) -> Any:
    """The default config section of method `name` (None if it has none)."""
    return spec(name).default_config()


def check(cfg: Any) -> MethodSpec:
    """The method's part of `cfg` checked (section keys, then its own checks); its spec."""
    s = spec(cfg.get("method", "dense"))
    _spec.check(s, cfg)
    return s


def recipe(cfg: Any) -> list[Stage]:
    """The checked stages of `cfg.method` (ValueError before any compute)."""
    return check(cfg).recipe(cfg)


def markdown_table() -> str:
    """The README's method table, one row per registered method (from the specs)."""
    rows = [
        "| method | what it is | paper | config | demo |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in known():
        s = spec(name)
        if "|" in s.title + s.paper:
            raise ValueError(f"method {name!r}: '|' in its title or paper breaks the table")
        demo = f"`python -m jaxsr.train --config={s.config}:demo --workdir=workdirs/{name}_demo`"
        file, _, where = s.paper.partition(" ")
        paper = "-" if s.paper == "-" else f"`{file}`" + (f" {where}" if where else "")
        rows.append(f"| `{name}` | {s.title} | {paper} | `{s.config}` | {demo} |")
    return "\n".join(rows) + "\n"
