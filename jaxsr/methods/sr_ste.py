"""SR-STE (SLS baseline; Zhou et al. 2021): dense weights, N:M-masked forward, sparse-refined
straight-through backward.

The trainable pytree is the dense params. Every forward pass uses the N:M mask of the current
weights (`jaxsr.sparsity.ste.nm_ste`: forward exactly `where(mask, w, 0)`, backward the
identity), and the gradient gets λ_w·(1−mask)·w on the pruned weights (`nm_decay`, first in
the chain, `nm.decay` = 2e-4 by default). Exports the masked params and the masks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optax

from jaxsr.methods import nm_common
from jaxsr.methods.base import Exported, Method, Stage
from jaxsr.optim.nm_decay import nm_decay
from jaxsr.sparsity.masks import apply_masks
from jaxsr.sparsity.nm import nm_masks
from jaxsr.sparsity.ste import nm_ste_params


@dataclasses.dataclass(frozen=True, eq=False)
class SRSTE(Method):
    name: str = "sr_ste"
    layers: dict = dataclasses.field(default_factory=dict)  # path -> (N, M)
    decay: float = 2e-4

    def model_params(self, trainable: Any, state: dict) -> Any:
        return nm_ste_params(trainable, self.layers)

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        return optax.chain(nm_decay(self.decay, self.layers), base)

    def export(self, trainable: Any, state: dict) -> Exported:
        masks = nm_masks(trainable, self.layers)
        return Exported(apply_masks(trainable, masks), masks=masks)


def check_config(cfg: Any) -> None:
    nm_common.check_config(cfg)
    if float(cfg.nm.decay) < 0:
        raise ValueError(f"nm.decay={cfg.nm.decay} must be >= 0")


def recipe(cfg: Any) -> list[Stage]:
    return nm_common.recipe(
        cfg, lambda c: SRSTE(layers=nm_common.layers(c), decay=float(c.nm.decay))
    )


SPEC = nm_common.spec(
    "sr_ste",
    "SR-STE: N:M with sparse-refined straight-through training",
    "sls_cvpr2022.md (baseline; Zhou et al. 2021)",
    recipe,
    check_config,
    decay=2e-4,  # SR-STE's lambda_w
)
