"""The training state of a stage (`TrainState`) and how it is made: `init_state` (step 0),
`build_optimizer` (the config's optimizer wrapped by the method), `state_template` (a state
with a stage's checkpoint structure, to restore one outside the trainer). Below the methods
and the trainer: a method is passed in, never imported (`jaxsr.methods.base.Method`)."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from jaxsr import models
from jaxsr.optim import make_optimizer


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any  # the method's trainable pytree (the model params for dense training)
    opt_state: Any
    rng: jax.Array
    ema_params: Any  # EMA of `params` ({} without EMA)
    extra: Any  # the method's state (e.g. {"masks": ...}), updated inside the step
    nonfinite: jax.Array  # number of non-finite steps (never applied; see jaxsr.nonfinite)
    first_nonfinite: jax.Array  # step number of the first one, -1 if none


def init_state(
    model: Any,
    tx: optax.GradientTransformation,
    seed: int,
    ema: bool,
    method: Any,
    params: Any | None = None,
) -> TrainState:
    """The state at step 0: `method.init` of `params` (default: the seeded init)."""
    init_key, key = jax.random.split(jax.random.PRNGKey(seed))
    if params is None:
        params = models.init_params(model, init_key)
    trainable, extra = method.init(params, jax.random.fold_in(key, 1))
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=trainable,
        opt_state=tx.init(trainable),
        rng=key,
        ema_params=jax.tree.map(jnp.copy, trainable) if ema else {},
        extra=extra,
        nonfinite=jnp.zeros((), jnp.int32),
        first_nonfinite=jnp.full((), -1, jnp.int32),
    )


def build_optimizer(cfg: Any, method: Any) -> optax.GradientTransformationExtraArgs:
    """The config's optimizer wrapped by the method; `update` takes the method state as
    keyword arguments (passed on to the transforms that accept them)."""
    return optax.with_extra_args_support(method.optimizer(make_optimizer(cfg.optim)))


def state_template(cfg: Any, model: Any, method: Any) -> TrainState:
    """A state with the structure of a stage's checkpoints (to restore one outside `fit`)."""
    tx = build_optimizer(cfg, method)
    return init_state(model, tx, 0, float(cfg.optim.get("ema_decay", 0.0)) > 0, method)
