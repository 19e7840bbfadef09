"""Optimizers (`make_optimizer`, `make_schedule`) and pure optax transforms for pruning.

One concern per file, each transform a factory returning a `GradientTransformation`:
`masking.keep_masked` (pruned weights stay exactly 0; last in the chain),
`freezing.freeze_below` / `zero_grads_below` (DUPru's EPS freeze),
`nm_decay.nm_decay` (SR-STE's λ_w·(1−mask)·w gradient term; first in the chain),
`projection.clip_params` / `freeze_if` (projection of auxiliary params, freeze by state).
Transforms read method state (masks) from `update`'s keyword arguments.
"""

from jaxsr.optim.freezing import freeze_below, zero_grads_below
from jaxsr.optim.masking import keep_masked
from jaxsr.optim.nm_decay import nm_decay
from jaxsr.optim.optimizer import make_optimizer, make_schedule
from jaxsr.optim.projection import clip_params, freeze_if

__all__ = [
    "clip_params",
    "freeze_below",
    "freeze_if",
    "keep_masked",
    "make_optimizer",
    "make_schedule",
    "nm_decay",
    "zero_grads_below",
]
