"""What a registered training method is (`MethodSpec`) and the checks every method shares.

A method module describes each method it provides with one `MethodSpec`: its name, what it
is and where it comes from, its config section and that section's defaults, its own checks,
its recipe, what its final model holds and which kind of model it trains. Everything the
rest of jaxsr needs to know about a method (the trainer, the experiment runner, the README's
method table) is read from the spec; nothing outside a method's module tests its name.

`check_section(spec, cfg)` is the one place where a method's config section is compared with
its defaults: a missing key or a misspelt one is a one-line error naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import ml_collections

from jaxsr.methods.base import Stage


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One training method, as `config.method=<name>` selects it."""

    name: str  # the registry name (config.method)
    title: str  # what it is, in a few words
    paper: str  # where it comes from (paper file in ../shared/papers, or "-")
    config: str  # the config file that runs it (repository-relative; has a :demo variant)
    exports: str  # what its final model directory holds
    recipe: Callable[[Any], list[Stage]]  # the stages (`jaxsr.train.stages` drives them)
    section: str | None = None  # its config section, config.<section>
    defaults: Callable[[], ml_collections.ConfigDict] | None = None  # that section's defaults
    check: Callable[[Any], None] | None = None  # its own checks, after the key check
    model_kind: str = "sr"  # the kind of registry model it trains (`jaxsr.models.spec`)

    def __post_init__(self) -> None:
        if (self.section is None) != (self.defaults is None):
            raise ValueError(f"method {self.name!r}: section and defaults go together")

    def default_config(self) -> ml_collections.ConfigDict | None:
        """A fresh copy of the section's defaults (None: the method has no section)."""
        return self.defaults() if self.defaults else None


def check_section(spec: MethodSpec, cfg: Any) -> None:
    """config.<section> present, with exactly the keys of the defaults (one-line errors)."""
    if spec.section is None:
        return
    hint = f"see jaxsr.methods.default_config({spec.name!r})"
    if spec.section not in cfg:
        raise ValueError(f"config.method={spec.name!r} needs config.{spec.section} ({hint})")
    _check_keys(cfg[spec.section], spec.default_config(), spec.section, spec.name, hint)


def _check_keys(section: Any, known: Any, where: str, method: str, hint: str) -> None:
    """`section`'s keys are exactly `known`'s, also in nested sub-sections whose defaults
    have keys (an empty default, e.g. model `overrides`, is free-form)."""
    for key in section:  # a misspelt key would otherwise be ignored
        if key not in known:
            raise ValueError(
                f"config.{where}.{key}: unknown key for method {method!r}; "
                f"known: {', '.join(sorted(known))}"
            )
    for key in known:
        if key not in section:
            raise ValueError(f"config.{where}.{key} is missing ({hint})")
        sub = known[key]
        if (
            isinstance(sub, ml_collections.ConfigDict)
            and len(sub)
            and hasattr(section[key], "keys")
        ):
            _check_keys(section[key], sub, f"{where}.{key}", method, hint)


def check(spec: MethodSpec, cfg: Any) -> None:
    """Everything about `cfg` the method owns, before any compute."""
    check_section(spec, cfg)
    if spec.check:
        spec.check(cfg)
