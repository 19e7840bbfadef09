"""Pure sparsity maths (jittable `jnp`, no training-loop imports): N:M units and masks."""

from jaxsr.sparsity.nm import group_view, nm_mask, nonzeros_per_group, rank_in_group, units

__all__ = ["group_view", "nm_mask", "nonzeros_per_group", "rank_in_group", "units"]
