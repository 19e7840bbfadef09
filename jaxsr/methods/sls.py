"""SLS: layer-wise N:M sparsity search (Oh et al., CVPR 2022), as a `Method`.

Every selected conv kernel (`sls.rules`; default `jaxsr.sparsity.selection.NM_RULES`) is
the sum of its M 1:M units (`jaxsr.sparsity.nm.units`, ranked by |w| within groups of M input
channels). Unit 1 is always kept; unit i > 1 is kept when its gate b_i = S(p_i, tau) is 1,
with straight-through gradient dL/dp_i = dL/db_i (`jaxsr.sparsity.priority`). With POP the
priorities are p_1 = 1, p_i = prod_{n<i} k_n of M-1 trainable scores k in [0, k_max]
(initialised to 1), so a unit of larger weights never goes before one of smaller weights.

Budget and units (eqs. 5-6), as the official code computes them (each a config choice):
- `sls.cost_at="train"`: a conv's cost C_l is its MACs for one LR input of the training
  patch's size (the code's `SparseConv` stores the spatial size of its current input:
  48x48 LR for x4 at HR patch 192), summed over the conv's calls (`jaxsr.complexity.
  conv_costs`); "hd" costs at a 1280x720 output, "<n>" at an HR patch of n. Reports and
  `jaxsr.complexity` always count at 1280x720 (the papers' GMACs).
- `sls.unit_cost="exact"` (default): each unit costs the MACs of its real weights
  (`jaxsr.sparsity.budget.unit_costs`): C_l * N / M when M divides the input channels,
  which is eq. 5 and the official `compute_costs` (the official code requires M | I: its
  grouping fails otherwise), and the real MACs when it does not (RFDN's 50-channel convs at
  M = 32: a group of 32 and a zero-padded one of 18, each keeping N); "code": every unit
  C_l / M regardless (eq. 5 applied to padded groups: for RFDN at M = 32 it undercounts a
  50-channel conv's kept MACs by up to 28 %, so budgets and equal-MACs comparisons would not
  be in real MACs).
- `sls.rgb_range=255`: the task loss is taken on images in [0, 255] (the code's L1 with
  `rgb_range` 255), i.e. 255x jaxsr's [0, 1] L1; 1 keeps jaxsr's units.
With these defaults `sls.lam` is the paper's lambda_reg (1e-10 for SR): the gradient
reaching every score equals the official code's for the same weights, batch and lambda
(tests/test_sls_units.py restates `compute_costs` + the loss in PyTorch). The previous units
(rgb_range 1, cost_at "hd") made a given lambda 255 x (1280x720 / patch area) stronger
(~6,400x at HR patch 192, x4). `sls.target` is a fraction of the summed costs of the
**selected convs only** (the paper's C_target = f * sum_l C_original^l over the L pruned
layers); the unselected convs (by default the first and a last RGB conv: `NM_RULES`) stay
dense and are not in the budget, so the whole-model GMACs that `jaxsr.complexity` prints
fall by less than the target. Loss = task + lam * cost during the search.

Inside the jitted step (`update_state`, after every update): the hard gates of the updated
scores are costed; as soon as cost <= target * dense, the gates are stored and frozen for
good (state `frozen`, `budget_step`), the regulariser is dropped and training goes on as
fine-tuning of the weights with the gates fixed. The scores have their own optax branch
(Adam at `sls.score_lr`, no weight decay, then the [0, k_max] projection, then `freeze_if`
on `frozen` — a freeze of the final update, so Adam's moments cannot move frozen scores).
The budget step is an event (`Method.events`): the trainer logs it ("budget_met at step S")
and writes it to metrics.jsonl and summary.json. Annealing (`sls.anneal_rule`,
`jaxsr.sparsity.budget.anneal_step`): "code" (default; the official `trainer.py`, which made
the paper's numbers): with K = `anneal_every` = two epochs, the compression factor
C_original / C_pruned is recorded at the end of the first epoch and lambda *= alpha when it
grew by less than T = `anneal_threshold` (0.2 in the official script) by the end of the
second; "paper" (eq. 7): every K steps, lambda *= alpha when the pruned ratio C_pruned /
C_original moved by <= T (the paper's T 0.1, alpha 1.1) since the previous check. The two
watch different quantities (a factor 1 -> 1/target vs a ratio 1 -> target), so their T are
not interchangeable. The code records the costs of an epoch's last batch before its update;
here the gates after the step's update are costed (one step later). `anneal=False`: lambda
fixed. Every `rerank_every` steps (1 = every step, 0 = never) the units are re-ranked from
the current weights, also after the budget step (as the official code); N per layer is
unchanged by it. Exports the N:M-masked params + masks.

The first update moves the scores before any gate is evaluated on the pre-trained model's
loss; the official code does the same. Numbers (overhead): BENCHMARKS.md; results:
RESULTS.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import traverse_util

from jaxsr import complexity, model_dir, models
from jaxsr.methods import nm_common
from jaxsr.methods.base import Context, Exported, Method, Stage
from jaxsr.methods.spec import MethodSpec
from jaxsr.optim.projection import clip_params, freeze_if
from jaxsr.sparsity.budget import ANNEAL_RULES, UNIT_COSTS, anneal_step, gated_cost, unit_costs
from jaxsr.sparsity.nm import group_view, rank_in_group
from jaxsr.sparsity.priority import priorities, ste_gates
from jaxsr.sparsity.selection import NM_RULES, prunable_paths, rules_for
from jaxsr.startpoints import build_model


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "m": 32,  # M of N:M (the paper: 32)
            "target": 0.25,  # fraction of the selected convs' dense MACs (1/4, 1/8, 1/16)
            "rules": (),  # prunable-path regex rules; () = the paper's (see selection.py)
            "tau": 0.5,  # gate threshold S(p, tau)
            "k_max": 1.03,  # scores are projected onto [0, k_max] (official code)
            "score_lr": 1e-4,  # Adam lr of the scores (no decay; code: the weights' lr)
            "lam": 1e-10,  # initial lambda_reg, in the paper's units (see the docstring)
            "rgb_range": 255.0,  # task loss on images in [0, rgb_range] (code: 255)
            "cost_at": "train",  # MACs at: "train" (LR patch), "hd" (1280x720), "<HR patch>"
            "unit_cost": "exact",  # real kept MACs (= eq. 5 when M | I); "code": C_l/M per unit
            "anneal": True,  # anneal lambda (False: fixed at `lam`)
            "anneal_rule": "code",  # "code" (trainer.py) or "paper" (eq. 7)
            "anneal_every": 2000,  # K (steps); official code: 2 epochs of 1000 iterations
            "anneal_threshold": 0.2,  # T: code 0.2 on the factor (script); paper 0.1 on the ratio
            "alpha": 1.2,  # official script 1.2, paper 1.1
            "rerank_every": 1000,  # R (steps): code 1 epoch; paper 10 epochs; 1 = every step
            "pop": True,  # priority-ordered pruning (eq. 4); False: p_i = k_{i-1}
            "pretrain_steps": 0,  # > 0: a dense `pretrain` stage first (no published model)
        }
    )


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def check_config(cfg: Any) -> None:
    c = cfg.sls  # its keys: `jaxsr.methods.spec.check_section`
    _check(int(c.m) >= 2, f"sls.m={c.m} must be >= 2")
    _check(0.0 < float(c.target) <= 1.0, f"sls.target={c.target} must be in (0, 1]")
    _check(0.0 < float(c.tau) < 1.0, f"sls.tau={c.tau} must be in (0, 1)")
    _check(float(c.k_max) > float(c.tau), f"sls.k_max={c.k_max} must be > sls.tau={c.tau}")
    _check(float(c.score_lr) > 0, f"sls.score_lr={c.score_lr} must be > 0")
    _check(float(c.lam) >= 0, f"sls.lam={c.lam} must be >= 0")
    _check(int(c.anneal_every) >= 1, f"sls.anneal_every={c.anneal_every} must be >= 1")
    _check(
        c.anneal_rule in ANNEAL_RULES,
        f"sls.anneal_rule={c.anneal_rule!r}; known: {', '.join(ANNEAL_RULES)}",
    )
    _check(
        c.anneal_rule != "code" or int(c.anneal_every) >= 2,
        f"sls.anneal_every={c.anneal_every}: the 'code' rule needs K >= 2 (two epochs)",
    )
    _check(
        c.unit_cost in UNIT_COSTS, f"sls.unit_cost={c.unit_cost!r}; known: {', '.join(UNIT_COSTS)}"
    )
    _check(float(c.rgb_range) > 0, f"sls.rgb_range={c.rgb_range} must be > 0")
    cost_shape(cfg)
    _check(float(c.anneal_threshold) >= 0, f"sls.anneal_threshold={c.anneal_threshold} < 0")
    _check(float(c.alpha) >= 1.0, f"sls.alpha={c.alpha} must be >= 1")
    _check(int(c.rerank_every) >= 0, f"sls.rerank_every={c.rerank_every} must be >= 0")
    _check(int(c.pretrain_steps) >= 0, f"sls.pretrain_steps={c.pretrain_steps} must be >= 0")
    layers(cfg)


def layers(cfg: Any) -> dict[str, tuple[int, ...]]:
    """'/'-joined kernel path -> kernel shape of every selected conv (checked)."""

    rules = rules_for(cfg.model.name, cfg.sls.get("rules"), NM_RULES, "sls.rules")
    params = models.abstract_params(build_model(cfg))
    flat = {k: v.shape for k, v in traverse_util.flatten_dict(params, sep="/").items()}
    try:
        selected = prunable_paths(params, rules)
    except ValueError as e:
        raise ValueError(f"sls.rules: {e}") from None
    out = {}
    for p in selected:
        _check(len(flat[p]) == 4, f"sls.rules select {p} of shape {flat[p]}; SLS needs a conv")
        out[p] = tuple(flat[p])
    _check(bool(out), f"sls.rules select no conv kernel of {cfg.model.name}")
    return out


def cost_shape(cfg: Any) -> tuple[int, int]:
    """The LR input (h, w) at which the search costs the convs (`sls.cost_at`): the training
    LR patch ("train", the official code), the 1280x720 output ("hd") or an HR patch size."""
    at, scale = str(cfg.sls.get("cost_at", "train")), int(cfg.model.scale)
    if at == "hd":
        return complexity.hd_lr_shape(scale)
    if at == "train":
        hr = int(cfg.data.hr_patch)
    else:
        try:
            hr = int(at)
        except ValueError:
            hr = 0
        _check(hr > 0, f"sls.cost_at={at!r}: use 'train', 'hd' or an HR patch size like '192'")
    _check(hr % scale == 0, f"sls.cost_at: HR patch {hr} is not a multiple of scale {scale}")
    return hr // scale, hr // scale


def layer_costs(
    model: Any,
    shapes: dict[str, tuple[int, ...]],
    m: int,
    lr_shape: tuple[int, int],
    rule: str = "exact",
) -> dict[str, np.ndarray]:
    """Per selected kernel ('/'-joined path -> HWIO shape) of `model`, the MACs of each of
    its M units for one LR input of `lr_shape` (h, w), by unit cost rule `rule`."""
    try:
        dense = complexity.conv_costs(model, lr_shape)
    except Exception as e:  # e.g. a patch too small for RFDN's strided ESA conv + pooling
        msg = f"sls.cost_at: the model does not run on an LR input {lr_shape}: {e}"
        raise ValueError(msg) from None
    missing = sorted(set(shapes) - set(dense))
    _check(not missing, f"sls.rules select kernels that no conv call uses: {missing}")
    return {p: unit_costs(s, dense[p], m, rule) for p, s in shapes.items()}


def _nest(flat: dict[str, Any]) -> dict:
    return traverse_util.unflatten_dict(flat, sep="/")


def _flat(tree: Any) -> dict[str, Any]:
    return traverse_util.flatten_dict(tree, sep="/")


@dataclasses.dataclass(frozen=True, eq=False)
class SLS(Method):
    name: str = "sls"
    costs: dict = dataclasses.field(default_factory=dict)  # path -> (M,) unit MACs
    m: int = 32
    target: float = 0.25
    tau: float = 0.5
    k_max: float = 1.03
    score_lr: float = 1e-4
    lam: float = 1e-10
    rgb_range: float = 255.0
    anneal: bool = True
    anneal_rule: str = "code"
    anneal_every: int = 2000
    anneal_threshold: float = 0.2
    alpha: float = 1.2
    rerank_every: int = 1000
    pop: bool = True

    @property
    def dense_cost(self) -> float:
        return float(sum(float(np.sum(c)) for c in self.costs.values()))

    # -- state -----------------------------------------------------------------------------
    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        del rng
        flat = _flat(params)
        scores = {p: jnp.ones((self.m - 1,), jnp.float32) for p in self.costs}
        state = {
            "ranks": _nest({p: rank_in_group(flat[p], self.m) for p in self.costs}),
            "gates": _nest({p: jnp.ones((self.m,), jnp.float32) for p in self.costs}),
            "frozen": jnp.zeros((), bool),
            "budget_step": jnp.full((), -1, jnp.int32),
            "lam": jnp.asarray(self.lam, jnp.float32),
            "ratio_mark": jnp.ones((), jnp.float32),  # MACs ratio at the last annealing check
        }
        return {"model": params, "scores": _nest(scores)}, jax.device_get(state)

    def gates(self, trainable: Any, state: dict) -> dict[str, jax.Array]:
        """Per layer (M,) gates: the frozen ones after the budget step, else STE of the scores
        (forward exactly 0/1)."""
        scores, frozen_b = _flat(trainable["scores"]), _flat(state["gates"])
        out = {}
        for p in self.costs:
            live = ste_gates(priorities(scores[p], self.pop), self.tau)
            out[p] = jnp.where(state["frozen"], frozen_b[p], live)
        return out

    def macs_ratio(self, gates: dict[str, jax.Array]) -> jax.Array:
        """Kept MACs of the selected convs / their dense MACs."""
        return gated_cost(self.costs, gates) / self.dense_cost

    # -- hooks -----------------------------------------------------------------------------
    def task_loss(self, apply, params, state, lr, hr, loss):
        """The config's loss on images scaled to [0, rgb_range] (the official code's L1 on
        [0, 255]: 255x jaxsr's [0, 1] L1), which sets the balance against lam * cost."""
        del state
        r = self.rgb_range
        return loss(apply(params, lr) * r, hr * r), {}

    def model_params(self, trainable: Any, state: dict) -> Any:
        b, ranks = self.gates(trainable, state), _flat(state["ranks"])
        flat = _flat(trainable["model"])
        for p in self.costs:  # w * b[rank]: unit_1 + sum_i b_i unit_i, exact for binary b
            flat[p] = flat[p] * jnp.take(b[p], ranks[p]).astype(flat[p].dtype)
        return _nest(flat)

    def aux_loss(self, trainable: Any, state: dict, step: jax.Array) -> tuple[Any, dict]:
        del step
        b = self.gates(trainable, state)
        cost = gated_cost(self.costs, b)
        reg = jnp.where(state["frozen"], 0.0, state["lam"] * cost)
        metrics = {
            "lam": state["lam"],
            "macs_ratio": jax.lax.stop_gradient(cost) / self.dense_cost,
            "searching": 1.0 - state["frozen"].astype(jnp.float32),
        }
        return reg, metrics

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        scores_tx = optax.chain(
            optax.adam(self.score_lr), clip_params(0.0, self.k_max), freeze_if("frozen")
        )

        def labels(tree: Any) -> Any:
            return {k: jax.tree.map(lambda _, k=k: k, v) for k, v in tree.items()}

        return optax.partition({"model": base, "scores": scores_tx}, labels)

    def update_state(self, trainable: Any, state: dict, step: jax.Array) -> dict:
        scores = _flat(trainable["scores"])
        live = {p: (priorities(scores[p], self.pop) > self.tau).astype(jnp.float32) for p in scores}
        was_frozen = state["frozen"]
        ratio = self.macs_ratio(live)
        met = ~was_frozen & (ratio <= self.target)
        old_b = _flat(state["gates"])
        new = dict(state)
        new["gates"] = _nest({p: jnp.where(met, live[p], old_b[p]) for p in live})
        new["frozen"] = was_frozen | met
        new["budget_step"] = jnp.where(met, step, state["budget_step"]).astype(jnp.int32)
        if self.anneal:
            lam, mark = anneal_step(
                self.anneal_rule,
                state["lam"],
                state["ratio_mark"],
                ratio,
                step,
                self.anneal_every,
                self.anneal_threshold,
                self.alpha,
            )
            new["lam"] = jnp.where(was_frozen, state["lam"], lam)
            new["ratio_mark"] = jnp.where(was_frozen, state["ratio_mark"], mark)
        if self.rerank_every:
            w = _flat(trainable["model"])

            def rerank(_):
                return _nest({p: rank_in_group(w[p], self.m) for p in self.costs})

            new["ranks"] = (
                rerank(None)
                if self.rerank_every == 1
                else jax.lax.cond(
                    step % self.rerank_every == 0, rerank, lambda _: state["ranks"], None
                )
            )
        return new

    def events(self, state: dict) -> dict[str, jax.Array]:
        return {"budget_met": state["budget_step"]}

    def masks(self, trainable: Any, state: dict) -> dict:
        """bool masks of the kept weights of the selected kernels (b[rank] == 1)."""
        b, ranks = self.gates(trainable, state), _flat(state["ranks"])
        return _nest({p: jnp.take(b[p], ranks[p]) > 0.5 for p in self.costs})

    def export(self, trainable: Any, state: dict) -> Exported:
        masks = self.masks(trainable, state)
        flat, fm = _flat(trainable["model"]), _flat(masks)
        for p, mk in fm.items():
            flat[p] = jnp.where(mk, flat[p], jnp.zeros_like(flat[p]))
        return Exported(_nest(flat), masks=masks)


def make(cfg: Any) -> SLS:
    """The method of `config.sls`: every `SLS` field named in the section, cast to its type."""
    c = cfg.sls
    fields = {f.name: type(f.default) for f in dataclasses.fields(SLS) if f.name in c}
    model = build_model(cfg)
    rule = str(c.get("unit_cost", "exact"))
    costs = layer_costs(model, layers(cfg), int(c.m), cost_shape(cfg), rule)
    return SLS(costs=costs, **{k: t(c[k]) for k, t in fields.items()})


def layer_table(directory: Any, m: int) -> list[dict]:
    """Per selected layer of an exported model dir, in param order: N (kept weights per group
    of M input channels, the max over groups), M_eff = min(M, input channels per group),
    density, its dense and kept GMACs at a 1280x720 output, and whether it is the model's
    last conv (`last`: the one writing the output, e.g. RFDN's upsampling conv)."""
    masks = model_dir.load_masks(directory)
    if masks is None:
        raise ValueError(f"{directory}: no masks.npz (not an exported N:M model)")
    meta = model_dir.read_meta(directory)
    model = models.create(meta["model"], meta["scale"], **meta.get("overrides", {}))
    calls = complexity.trace_convs(model, complexity.hd_lr_shape(int(meta["scale"])))
    dense = complexity.conv_costs(model, complexity.hd_lr_shape(int(meta["scale"])))
    last = f"{calls[-1].path}/kernel"
    rows = []
    for p, mk in _flat(masks).items():
        mk = np.asarray(mk)
        kept = np.asarray(jnp.sum(group_view(jnp.asarray(mk), m), axis=3))
        density = float(mk.mean())
        rows.append(
            {
                "layer": p,
                "n": int(kept.max()),
                "m": min(m, int(mk.shape[2])),
                "density": density,
                "gmacs_dense": dense.get(p, 0) / 1e9,
                "gmacs": density * dense.get(p, 0) / 1e9,
                "last": p == last,
            }
        )
    return rows


def report(ctx: Context, summary: dict) -> dict:
    """The stage's report: budget step, GMACs, non-zero params, per-layer N ("layers",
    "m" and "target": the stage driver draws them with `jaxsr.figures.stage_figures`)."""
    d = ctx.dir / "final_model"
    m = int(ctx.cfg.sls.m)
    rep = complexity.pruned_report(d)
    rows = layer_table(d, m)
    budget_step = int(summary.get("events", {}).get("budget_met", -1))
    steps = int(summary.get("steps") or ctx.cfg.train.steps)
    out = {
        "budget_step": budget_step,
        # where in the run the search ended (the paper's proportions: well inside the run)
        "budget_fraction": budget_step / steps if budget_step >= 0 and steps else None,
        "target": float(ctx.cfg.sls.target),
        "m": m,
        "gmacs": rep.macs / 1e9,
        "dense_gmacs": rep.dense_macs / 1e9,
        "nonzero_params": rep.nonzero_params,
        "params": rep.params,
        "layers": rows,
        "eval": summary.get("final_eval", {}),
    }
    when = (
        f"budget met at step {budget_step} ({100 * out['budget_fraction']:.0f} % of {steps})"
        if budget_step >= 0
        else f"WARNING: budget NOT met in {summary.get('steps')} steps (the model keeps more "
        "than the target; raise steps, sls.score_lr or sls.lam)"
    )
    ctx.log(
        f"sls: {when}; {out['gmacs']:.2f} of {out['dense_gmacs']:.2f} GMACs, "
        f"{rep.nonzero_params:,} non-zero params; N per layer: "
        + " ".join(str(r["n"]) for r in rows)
    )
    return out


def recipe(cfg: Any) -> list[Stage]:
    return nm_common.recipe(
        cfg, make, pretrain_steps=int(cfg.sls.pretrain_steps), report=report, stage="sls"
    )


SPEC = MethodSpec(
    name="sls",
    title="SLS: layer-wise N:M sparsity search to a MACs budget",
    paper="sls_cvpr2022.md",
    config="configs/sls.py",
    exports="params + masks (per-layer N)",
    recipe=recipe,
    section="sls",
    defaults=default_config,
    check=check_config,
)
