"""UPru / DUPru as trainer `Method`s: masks in `TrainState.extra`, constraints last in the chain."""

from __future__ import annotations

from jaxsr.pruning.freeze import freeze_below, zero_grads_below
from jaxsr.pruning.mask_apply import mask_apply
from jaxsr.trainer import Method


def magnitude_pruning_method(
    masks: dict, freeze_eps: float = 0.0, zero_grads: bool = False, name: str = "upru"
) -> Method:
    """UPru (`freeze_eps=0`) or DUPru (`freeze_eps>0`): chain = [zero_grads_below?] + Adam + lr
    + [mask_apply, freeze_below?]."""
    constraints = [mask_apply()]
    pre = []
    if freeze_eps > 0:
        constraints.append(freeze_below(freeze_eps))
        if zero_grads:
            pre.append(zero_grads_below(freeze_eps))
    return Method(
        name=name,
        init_extra=lambda params: {"masks": masks},
        constraints=constraints,
        pre_transforms=pre,
    )
