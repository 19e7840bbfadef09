"""The training state and the jitted, sharded training step (method-agnostic).

The step is one `jax.jit` over a `jax.sharding.Mesh` with a single axis `data`: the batch is
split along it; the trainable pytree, the method state and the optimizer state are
replicated; the state buffers are donated. What a method contributes (reparametrisation,
auxiliary loss and metrics, optimizer wrapping, state updates) comes through the `Method`
hooks (`jaxsr.methods.base`); see there for the order of operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxsr import nonfinite
from jaxsr.losses import LOSSES
from jaxsr.methods.base import Method
from jaxsr.state import TrainState


def make_mesh(num_devices: int | None = None) -> Mesh:
    devices = jax.devices()
    if num_devices:
        if num_devices > len(devices):
            raise ValueError(f"mesh.num_devices={num_devices} but only {len(devices)} devices")
        devices = devices[:num_devices]
        if len({d.process_index for d in devices}) < jax.process_count():
            raise ValueError(
                f"mesh.num_devices={num_devices} leaves out some of the {jax.process_count()} "
                "processes' devices; every process needs one (leave it 0: all devices)"
            )
    return Mesh(np.array(devices), ("data",))


def _updates_state(method: Method) -> bool:
    return type(method).update_state is not Method.update_state


def make_train_step(
    model: Any,
    tx: optax.GradientTransformation,
    loss: str,
    ema_decay: float,
    mesh: Mesh,
    method: Method,
    donate: bool = True,
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """`step(state, batch) -> (state, metrics)`; `tx` is the method-wrapped optimizer."""
    if loss not in LOSSES:
        raise ValueError(f"unknown train.loss {loss!r}; known: {sorted(LOSSES)}")
    loss_fn_ = LOSSES[loss]
    stateful = _updates_state(method)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        x = batch["lr"].astype(jnp.float32) / 255.0
        y = batch["hr"].astype(jnp.float32) / 255.0

        def apply(p, lr):
            return model.apply({"params": p}, lr)

        def loss_fn(trainable):
            p = method.model_params(trainable, state.extra)
            task, task_metrics = method.task_loss(apply, p, state.extra, x, y, loss_fn_)
            aux = method.aux_loss(trainable, state.extra, state.step)
            if aux is None:
                return task, task_metrics
            value, metrics = aux
            return task + value, {"task_loss": task, **task_metrics, **metrics}

        (value, aux_metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grad_norm = optax.tree.norm(grads)
        updates, opt_state = tx.update(grads, state.opt_state, state.params, **state.extra)
        params = optax.apply_updates(state.params, updates)
        step_no = state.step + 1
        ema = state.ema_params
        if ema_decay > 0:
            ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, ema, params)
        # a non-finite step is not applied and is counted (policy on the host: jaxsr.nonfinite)
        ok = jnp.isfinite(value) & jnp.isfinite(grad_norm) & nonfinite.tree_finite(params)
        new, old = (params, opt_state, ema), (state.params, state.opt_state, state.ema_params)
        if stateful:
            new += (method.update_state(params, state.extra, step_no),)
            old += (state.extra,)
        kept = nonfinite.select(ok, new, old)
        params, opt_state, ema = kept[:3]
        extra = kept[3] if stateful else state.extra
        bad = jnp.where(ok, 0, 1).astype(jnp.int32)
        first = jnp.where((state.first_nonfinite < 0) & ~ok, step_no, state.first_nonfinite).astype(
            jnp.int32
        )
        new_state = state.replace(
            step=step_no,
            params=params,
            opt_state=opt_state,
            ema_params=ema,
            extra=extra,
            nonfinite=state.nonfinite + bad,
            first_nonfinite=first,
        )
        metrics = {"loss": value, "grad_norm": grad_norm, "nonfinite": new_state.nonfinite}
        return new_state, {**metrics, **aux_metrics}

    repl = NamedSharding(mesh, PartitionSpec())
    data = NamedSharding(mesh, PartitionSpec("data"))
    return jax.jit(
        step,
        in_shardings=(repl, data),
        out_shardings=(repl, repl),
        donate_argnums=(0,) if donate else (),
    )


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    data = NamedSharding(mesh, PartitionSpec("data"))
    return {k: jax.make_array_from_process_local_data(data, v) for k, v in batch.items()}
