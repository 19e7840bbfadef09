"""What a training method implements (`Method`) and how a recipe is laid out (`Stage`).

A method sees three pytrees:

- the **trainable** pytree, differentiated and updated by the optimizer: the model params
  for dense/UPru/N:M, plus e.g. priority scores or a hypernetwork for SLS/FMP;
- its **state**, not differentiated, which it may change inside the jitted step
  (`update_state`, e.g. under `lax.cond` every K steps): masks, gates, counters, annealed
  coefficients. It lives in `TrainState.extra`, is checkpointed with it, and is passed to
  every optax transform of the chain as keyword arguments (`masks=...`);
- the **model params**, what the Flax model sees: `model_params(trainable, state)` (masks,
  straight-through N:M gates, hypernetwork output; differentiable).

The training step (`jaxsr.train.step`) does, for a batch:

    p = model_params(trainable, state)
    loss = task_loss(p, lr, hr) + aux_loss(trainable, state)     # + method metrics
           # task_loss default: the config's loss of model(p, lr) against hr
    updates = optimizer(base).update(grad(loss), opt_state, trainable, **state)
    trainable = apply_updates(trainable, updates)
    state = update_state(trainable, state, step)

and `export(trainable, state)` turns the result into a plain model (params, optional masks,
model overrides such as per-layer widths) that `jaxsr.evaluate`, `jaxsr.complexity`,
`init_from` and notebooks load without any method code. The trainer knows no method.

A method is a frozen dataclass (hashable: it is static inside `jax.jit`); arrays it needs at
init (e.g. UPru's masks of a round) are given to its constructor by the recipe's stage hook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import optax


@dataclasses.dataclass(frozen=True)
class Exported:
    """A plain model: what `jaxsr.model_dir.save_model` writes."""

    params: Any
    masks: dict | None = None  # bool pytree over the pruned leaves (saved as masks.npz)
    overrides: dict | None = None  # replaces config.model.overrides (e.g. per-layer widths)
    info: dict | None = None  # JSON-able facts for later stages (model dir meta "info")


@dataclasses.dataclass(frozen=True, eq=False)
class Method:
    """Dense training; every hook's default is the identity. Subclass and override."""

    name: str = "dense"

    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        """(trainable pytree, state) from the model params the stage starts from."""
        del rng
        return params, {}

    def model_params(self, trainable: Any, state: dict) -> Any:
        """The params the model sees (differentiable w.r.t. `trainable`)."""
        del state
        return trainable

    def task_loss(
        self,
        apply: Callable[[Any, jax.Array], jax.Array],
        params: Any,
        state: dict,
        lr: jax.Array,
        hr: jax.Array,
        loss: Callable[[jax.Array, jax.Array], jax.Array],
    ) -> tuple[jax.Array, dict]:
        """(the task loss, metrics to log) of the model params `params` on a batch: `apply` is
        the config model's forward pass, `loss` the config's `train.loss`. The default is
        `loss(apply(params, lr), hr)`; a method whose model is not an SR network (the MSE
        estimators of adaptive inference) overrides it."""
        del state
        return loss(apply(params, lr), hr), {}

    def aux_loss(self, trainable: Any, state: dict, step: jax.Array) -> tuple[Any, dict] | None:
        """(scalar added to the task loss, metrics to log), or None for no auxiliary loss."""
        del trainable, state, step
        return None

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        """Wrap the config's optimizer (clip? + Adam + lr). Constraints go last; auxiliary
        trainables get their own transforms with `optax.partition`."""
        return base

    def update_state(self, trainable: Any, state: dict, step: jax.Array) -> dict:
        """The state after an applied update (`step` = steps done); runs inside the jit."""
        del trainable, step
        return state

    def events(self, state: dict) -> dict[str, jax.Array]:
        """Named one-off events of the state: the step each happened at, -1 = not yet (e.g.
        SLS's budget step). The trainer fetches them at log steps, logs each once ("name at
        step S") and records them in metrics.jsonl (kind "event") and summary.json."""
        del state
        return {}

    def stop_event(self) -> str | None:
        """The event (of `events`) that ends the stage early: the trainer checks it at log
        steps, so the stage ends at the first log step at or after it (e.g. FMP's
        convergence); None: the stage runs all its steps."""
        return None

    def export(self, trainable: Any, state: dict) -> Exported:
        """The plain model of this training state."""
        return Exported(self.model_params(trainable, state))


@dataclasses.dataclass(frozen=True)
class Start:
    """How a stage starts: its method, and (if not a fresh start) the point it starts from."""

    method: Method
    params: Any = None  # model params; None: `config.init_from` or the seeded init
    step: int = 0  # the step counter (and lr schedule) continue from here
    data_state: Any = None  # the data iterator's position (grain state), None: the start
    overrides: dict | None = None  # model overrides for this stage (model surgery: widths)


@dataclasses.dataclass(frozen=True)
class Context:
    """What a stage hook knows: the config, the run's and the stage's workdir, and the
    directories of the stages before it (each holds `final_model/` and `report.json`)."""

    cfg: Any
    root: Path
    dir: Path
    index: int
    previous: tuple[Path, ...]
    log: Callable[[str], None] = print  # a no-op in quiet runs


@dataclasses.dataclass(frozen=True)
class Stage:
    """One trainer run of a recipe.

    `start(ctx)` must give the same `Start` every time it is called for a stage that has not
    finished (a killed run calls it again): it saves what it computes (masks, rewind points)
    in `ctx.dir` on the first call and reads it back afterwards. `report(ctx, summary)`
    returns the stage's entry of the run's report file after training."""

    name: str  # its workdir below the run's; "" = the run's workdir itself (one-stage recipes)
    steps: int
    start: Callable[[Context], Start]
    report: Callable[[Context, dict], dict] | None = None
    configure: Callable[[Any], Any] | None = None  # the stage's config (copy) from the run's
    # the run-level config keys (dotted prefixes of `recipe.json`'s fields) this stage depends
    # on; None = all. A rerun may change a key no started stage uses (a later stage's value).
    uses: tuple[str, ...] | None = None
