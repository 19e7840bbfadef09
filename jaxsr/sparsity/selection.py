"""Which params are prunable: regex rules over '/'-joined param paths (big_vision style).

Rules are tried in order; the first whose pattern fully matches a path decides
(`("body_\\d+/conv[12]/kernel", True)`); paths no rule matches are not prunable. A bare string
rule means `(pattern, True)`. Example, the DUPru paper's choice for MSRResNet (residual-block
convs only): `[r"body_\\d+/conv[12]/kernel"]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import traverse_util

Rule = str | tuple[str, bool]

DEFAULT_RULES: dict[str, list[Rule]] = {
    "msrresnet": [r"body_\d+/conv[12]/kernel"],  # the paper: residual-block convs only
    # other models: every conv kernel except the first and last (SLS convention)
    "edsr_baseline": [(r"head_0/kernel", False), (r"tail_1/kernel", False), r".*/kernel"],
    "edsr_8_128": [(r"head_0/kernel", False), (r"tail_1/kernel", False), r".*/kernel"],
    "esrb": [(r"head/kernel", False), (r"upsampler/kernel", False), r".*/kernel"],
    "rfdn": [(r"fea_conv/kernel", False), (r"upsampler_0/kernel", False), r".*/kernel"],
    "imdn": [(r"fea_conv/kernel", False), (r"upsampler_0/kernel", False), r".*/kernel"],
    "carn": [(r"entry/kernel", False), (r"exit/kernel", False), r".*/kernel"],
    "carn_m": [(r"entry/kernel", False), (r"exit/kernel", False), r".*/kernel"],
}


# every conv kernel except the first and the last (the SLS convention for N:M methods)
ALL_BUT_ENDS_RULES: dict[str, list[Rule]] = {
    **DEFAULT_RULES,
    "msrresnet": [(r"conv_first/kernel", False), (r"conv_last/kernel", False), r".*/kernel"],
}


# The N:M methods' convention (SLS and its baselines, one-shot N:M and SR-STE): the conv that
# reads the image stays dense, and so does a last conv mapping features to the 3 output
# channels (CARN's `exit` in the official SLS code: a plain nn.Conv2d); a sub-pixel
# upsampling conv that is the network's last layer (RFDN, IMDN, ESRB: C -> 3 s^2 + pixel
# shuffle) is searched, as SLS's Fig. 6 shows for RFDN's "last upsampling layer".
NM_RULES: dict[str, list[Rule]] = {
    **ALL_BUT_ENDS_RULES,
    "rfdn": [(r"fea_conv/kernel", False), r".*/kernel"],
    "imdn": [(r"fea_conv/kernel", False), r".*/kernel"],
    "esrb": [(r"head/kernel", False), r".*/kernel"],
}


def _normalise(rules: Sequence[Any]) -> list[tuple[re.Pattern, bool]]:
    out = []
    for r in rules:
        if not isinstance(r, str) and len(r) != 2:
            raise ValueError(f"prunable rule {r!r}: expected a regex or a (regex, bool) pair")
        pattern, keep = (r, True) if isinstance(r, str) else (r[0], bool(r[1]))
        try:
            out.append((re.compile(pattern), keep))
        except re.error as e:
            raise ValueError(f"prunable rule {pattern!r}: invalid regex ({e})") from None
    return out


def path_str(path: tuple[str, ...]) -> str:
    return "/".join(path)


def prunable_paths(params: Any, rules: Sequence[Rule]) -> list[str]:
    """Paths (sorted as in the params) that the rules select."""
    compiled = _normalise(rules)
    selected = []
    for path in traverse_util.flatten_dict(params):
        p = path_str(path)
        for pattern, keep in compiled:
            if pattern.fullmatch(p):
                if keep:
                    selected.append(p)
                break
    if not selected:
        raise ValueError(f"prunable rules {list(rules)} select no parameter")
    return selected


def describe(params: Any, rules: Sequence[Rule]) -> str:
    """A table of the selected params (for the README and notebooks)."""
    flat = {path_str(k): v for k, v in traverse_util.flatten_dict(params).items()}
    sel = prunable_paths(params, rules)
    total = sum(int(np.prod(flat[p].shape)) for p in sel)
    allp = sum(int(np.prod(v.shape)) for v in flat.values())
    rows = [
        f"{len(sel)} prunable tensors, {total:,} of {allp:,} params ({100 * total / allp:.1f}%)"
    ]
    rows += [f"  {p:<40} {tuple(flat[p].shape)}" for p in sel]
    return "\n".join(rows)


def rules_for(
    model: str,
    rules: Sequence[Rule] | None = None,
    defaults: dict[str, list[Rule]] | None = None,
    key: str = "pruning.rules",
) -> list[Rule]:
    """`rules` if given, else the model's default (`DEFAULT_RULES` or `defaults`)."""
    if rules:
        return list(rules)
    defaults = DEFAULT_RULES if defaults is None else defaults
    if model not in defaults:
        raise ValueError(f"no default prunable rules for model {model!r}; set {key}")
    return defaults[model]


def per_layer(paths: Sequence[str], default: Any, rules: Sequence[tuple[str, Any]]) -> dict:
    """A value per path: the first `(regex, value)` rule that fully matches, else `default`."""
    compiled = []
    for pattern, value in rules:
        try:
            compiled.append((re.compile(pattern), value))
        except re.error as e:
            raise ValueError(f"per-layer rule {pattern!r}: invalid regex ({e})") from None
    return {p: next((v for pat, v in compiled if pat.fullmatch(p)), default) for p in paths}
