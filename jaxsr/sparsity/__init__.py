"""Pure sparsity maths (jnp/numpy, no training-loop imports).

`selection` (which params: regex rules over param paths), `masks` (bool pytrees beside the
params: apply, report, save/load), `thresholds` (magnitude percentiles, UPru), `nm` (N:M
groups along input channels, ranks, masks, 1:M units), `ste` (straight-through N:M),
`priority` (SLS priority scores, STE gates, gated kernels), `budget` (SLS MACs budget, lambda
annealing).
"""

from jaxsr.sparsity.budget import anneal, pruned_cost
from jaxsr.sparsity.masks import apply_masks, init_masks, map_masked, sparsity_report
from jaxsr.sparsity.nm import (
    group_view,
    nm_mask,
    nm_masks,
    nonzeros_per_group,
    rank_in_group,
    units,
)
from jaxsr.sparsity.priority import effective_n, gated_kernel, priorities, ste_gates
from jaxsr.sparsity.selection import per_layer, prunable_paths, rules_for
from jaxsr.sparsity.ste import nm_ste, nm_ste_params

__all__ = [
    "anneal",
    "apply_masks",
    "effective_n",
    "gated_kernel",
    "group_view",
    "init_masks",
    "map_masked",
    "nm_mask",
    "nm_masks",
    "nm_ste",
    "nm_ste_params",
    "nonzeros_per_group",
    "per_layer",
    "priorities",
    "prunable_paths",
    "pruned_cost",
    "rank_in_group",
    "rules_for",
    "sparsity_report",
    "ste_gates",
    "units",
]
