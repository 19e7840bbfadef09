"""One-shot N:M (SLS baseline): magnitude N:M masks once, then fine-tuning with them exact.

At the stage start the kernels selected by `config.nm` (default: every conv but the first
and last) get the N:M mask of their magnitudes (the N largest |w| of every group of M input
channels, `jaxsr.sparsity.nm`), the pruned weights are set to 0, and training goes on with
`keep_masked` last in the optax chain, so every group keeps <= N non-zeros after every step.
Start from a trained model (`config.init_from`: a model dir or `.pth`) or from a dense
`pretrain` stage (`nm.pretrain_steps`). Exports the masked params and the masks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax

from jaxsr.methods import nm_common
from jaxsr.methods.base import Exported, Method, Stage
from jaxsr.optim.masking import keep_masked
from jaxsr.sparsity.masks import apply_masks
from jaxsr.sparsity.nm import nm_masks


@dataclasses.dataclass(frozen=True, eq=False)
class NMOneShot(Method):
    name: str = "nm_oneshot"
    layers: dict = dataclasses.field(default_factory=dict)  # path -> (N, M)

    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        del rng
        masks = jax.device_get(nm_masks(params, self.layers))
        return apply_masks(params, masks), {"masks": masks}

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        return optax.chain(base, keep_masked())

    def export(self, trainable: Any, state: dict) -> Exported:
        return Exported(apply_masks(trainable, state["masks"]), masks=state["masks"])


def recipe(cfg: Any) -> list[Stage]:
    return nm_common.recipe(cfg, lambda c: NMOneShot(layers=nm_common.layers(c)))


SPEC = nm_common.spec(
    "nm_oneshot",
    "one-shot N:M magnitude masks, then fine-tuning",
    "sls_cvpr2022.md (baseline)",
    recipe,
)
