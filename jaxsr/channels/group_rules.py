"""Which channel groups a method may prune: regex rules over group names, and group kinds.

Group names are the path of the first conv producing the group (`jaxsr.channels.graph`), e.g.
RFDN's `fea_conv` (the trunk), `B1/c1_d`, `B1/esa/conv1`. Rules work as for params
(`jaxsr.sparsity.selection`): the first `(regex, bool)` pair that fully matches decides; no
rules = every group of an allowed kind. Kinds: "internal" groups always; "subpixel" groups (an
upsampler conv feeding a pixel shuffle) only with `upsampler=True`; "fixed" groups never
(their channels are the image's: no method prunes or masks them).
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxsr.channels.graph import ChannelGraph
from jaxsr.sparsity.selection import Rule, _normalise


def select_groups(
    graph: ChannelGraph, rules: Sequence[Rule] = (), upsampler: bool = False
) -> list[str]:
    """Names of the groups to prune, in graph order (ValueError if none)."""
    kinds = {"internal", "subpixel"} if upsampler else {"internal"}
    compiled = _normalise(rules or [".*"])
    for pattern, _ in compiled:  # a rule matching nothing is a typo, not a no-op
        if not any(pattern.fullmatch(g.name) for g in graph.groups):
            names = ", ".join(g.name for g in graph.groups)
            raise ValueError(f"channel rule {pattern.pattern!r} matches no group; groups: {names}")
    out = []
    for g in graph.groups:
        if g.kind not in kinds:
            continue
        for pattern, keep in compiled:
            if pattern.fullmatch(g.name):
                if keep:
                    out.append(g.name)
                break
    if not out:
        names = ", ".join(g.name for g in graph.groups if g.kind in kinds)
        raise ValueError(f"channel rules {list(rules)} select no prunable group; groups: {names}")
    return out
