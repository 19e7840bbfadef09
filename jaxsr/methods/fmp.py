"""FMP (flexible meta pruning): hypernetwork-generated kernels, channel + weight pruning at once.

Recipe: stage `search` (at most `fmp.search_steps`, ends early at convergence), then stage
`finetune` (`train.steps`) of the materialised smaller model. No pretraining (as the paper).

Search (`FMP`): every conv touching a prunable channel group (`fmp.rules` over the traced
groups of `jaxsr.channels`) gets its kernel from a DHP-style hypernetwork
(`jaxsr.sparsity.hypernet`) fed with **channel vectors** z — one vector per channel group,
so residual-tied layers share it (DHP's rule) — times **weight indicators** (one per kernel
weight, init 1) that prune single weights. Trainable pytree: `model` (biases and the convs
that are not generated), `hyper`, `z`, `ind`. After Adam, `soft_threshold` (proximal L1 step,
`fmp.reg_channel` on z, `fmp.reg_weight` on the indicators, step = the learning rate; the
indicators take Adam steps and proximal steps at `fmp.ind_lr` x the learning rate, since an
O(1) parameter moves by ~lr per Adam step and 1 / lr steps exceed a CPU search) makes
exact zeros; a unit whose |z| falls below `fmp.threshold` (DHP's 5e-3) is pruned for good (its
z held at 0 in optax; its filters,
biases and consumers' input slices are masked in the forward pass, so the masked model is
exactly the smaller one); at least `fmp.min_channels` units per group stay. After each step
the channel and weight pruning ratios gamma_C, gamma_W (`jaxsr.channels.convergence`, in
`fmp.metric` = flops | params) are checked against `fmp.criterion` (channel | weight |
total_fixed | total, FMP supplement Sec. 2.2; "total" the paper's choice) with targets
`fmp.channel_ratio`, `fmp.weight_ratio`; at convergence z and the indicators freeze and the
stage ends at the next log step (event `converged`). With `fmp.trim` (default) the stop lands
on the target: of the weights pruned by the converging step, the most important are given
back while the criterion still holds (`FMP._trim`), so one large step does not overshoot.

Materialisation (stage `finetune` start): the search's exported model (full size, masked) is
cut to the kept channels (`jaxsr.channels.surgery`, per-conv `widths`), the hypernetwork is
gone (its generated kernels are plain params), and the weight masks stay exact while
fine-tuning (`keep_masked`, as UPru). Where the supplement is silent we follow DHP
(`../shared/notes/METHODS.md`): outer-product latent matrix, per-element embedding of size
`fmp.emb` (8), latent vectors from N(0, 1), soft-threshold proximal step with the
learning rate as step (a vector stops being thresholded while <= `fmp.min_channels` of its
entries are >= the threshold), >= 4 channels kept; our own choices: the
indicators multiply the generated kernel elementwise (an exact zero is a pruned weight),
pruned channels are masked (exactly removed) during the search rather than only at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import traverse_util

from jaxsr import complexity, model_dir
from jaxsr.channels import surgery, trace
from jaxsr.channels.convergence import CRITERIA, Ratios, converged
from jaxsr.channels.group_rules import select_groups
from jaxsr.methods.base import Context, Exported, Method, Stage, Start
from jaxsr.methods.magnitude import MagnitudePruning
from jaxsr.methods.spec import MethodSpec
from jaxsr.optim.optimizer import make_schedule
from jaxsr.optim.proximal import soft_threshold
from jaxsr.sparsity import hypernet
from jaxsr.startpoints import build_model


def default_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "criterion": "total",
            "metric": "flops",
            "channel_ratio": 0.3,
            "weight_ratio": 0.1,
            "reg_channel": 0.1,
            "reg_weight": 1e-3,
            "ind_lr": 1.0,
            "threshold": 5e-3,
            "emb": 8,
            "min_channels": 4,
            "rules": (),
            "search_steps": 2000,
            "trim": True,
        }
    )


def _flat(tree: Any) -> dict[str, Any]:
    return traverse_util.flatten_dict(tree, sep="/")


def _nest(flat: dict[str, Any]) -> dict:
    return traverse_util.unflatten_dict(flat, sep="/")


@dataclasses.dataclass(frozen=True, eq=False)
class FMP(Method):
    """The search stage (see the module docstring). Build with `make(cfg)`."""

    name: str = "fmp"
    groups: tuple[str, ...] = ()  # every traced group, graph order
    sizes: tuple[int, ...] = ()
    prunable: tuple[str, ...] = ()  # groups with a trainable z
    kernels: tuple[str, ...] = ()  # generated kernels
    index_in: dict = dataclasses.field(default_factory=dict)  # kernel -> positions (I,)
    index_out: dict = dataclasses.field(default_factory=dict)  # kernel -> positions (O,)
    ratios: Ratios | None = None
    criterion: str = "total"
    channel_ratio: float = 0.3
    weight_ratio: float = 0.1
    reg_channel: float = 0.1
    reg_weight: float = 1e-3
    ind_lr: float = 1.0
    threshold: float = 5e-3
    emb: int = 8
    min_channels: int = 4
    trim: bool = True
    lr: Callable[[jax.Array], jax.Array] | float = 1e-4

    # -- vectors over all groups (+ one "always kept" slot) ---------------------------------
    def _cat(self, per_group: dict[str, jax.Array]) -> jax.Array:
        parts = [
            jnp.asarray(per_group[g], jnp.float32) if g in per_group else jnp.ones(s)
            for g, s in zip(self.groups, self.sizes, strict=True)
        ]
        return jnp.concatenate([*parts, jnp.ones(1)])

    def init(self, params: Any, rng: jax.Array) -> tuple[Any, dict]:
        flat = _flat(params)
        keys = jax.random.split(rng, len(self.kernels) + len(self.prunable) + 1)
        hyper = {}
        for k, key in zip(self.kernels, keys, strict=False):
            kh, kw, cin, cout = flat.pop(k).shape
            hyper[k] = hypernet.init(key, cin, cout, kh, self.emb)
        shapes = {k: _flat(params)[k].shape for k in self.kernels}
        sizes = dict(zip(self.groups, self.sizes, strict=True))
        trainable = {
            "model": _nest(flat),
            "hyper": hyper,
            "z": {  # DHP: latent vectors ~ N(0, 1)
                g: jax.random.normal(key, (sizes[g],))
                for g, key in zip(self.prunable, keys[len(self.kernels) :], strict=False)
            },
            "ind": {k: jnp.ones(shapes[k]) for k in self.kernels},
        }
        state = {
            "keep": {g: jnp.ones((sizes[g],), bool) for g in self.prunable},
            "frozen": jnp.zeros((), bool),
            "converged_step": jnp.full((), -1, jnp.int32),
            "gamma_c": jnp.zeros(()),
            "gamma_w": jnp.zeros(()),
            # the indicators before the last step, and which of them the stop restored
            "ind_prev": {k: jnp.ones(shapes[k]) for k in self.kernels},
            "restored": {k: jnp.zeros(shapes[k], bool) for k in self.kernels},
        }
        return trainable, jax.device_get(state)

    def _ind(self, trainable: Any, state: dict) -> dict[str, jax.Array]:
        """The indicators in effect: the trained ones, with the stop's restored weights."""
        return {
            k: jnp.where(state["restored"][k], state["ind_prev"][k], trainable["ind"][k])
            for k in self.kernels
        }

    def model_params(self, trainable: Any, state: dict) -> Any:
        z, keep = self._cat(trainable["z"]), self._cat(state["keep"])
        flat = _flat(trainable["model"])
        ind = self._ind(trainable, state)
        for k in self.kernels:
            ii, io = self.index_in[k], self.index_out[k]
            w = hypernet.generate(trainable["hyper"][k], z[ii], z[io])
            w = w * ind[k] * keep[ii][:, None] * keep[io][None, :]
            flat[k] = w
            bias = k.removesuffix("kernel") + "bias"
            if bias in flat:
                flat[bias] = flat[bias] * keep[io]
        return _nest(flat)

    def optimizer(self, base: optax.GradientTransformation) -> optax.GradientTransformation:
        def strength(tree: Any) -> Any:
            def z_strength(z: jax.Array) -> jax.Array:  # DHP: a vector is thresholded only
                alive = jnp.sum(jnp.abs(z) >= self.threshold)  # while > min_channels survive
                return jnp.where(alive > self.min_channels, self.reg_channel, 0.0)

            return {
                "model": jax.tree.map(lambda _: 0.0, tree["model"]),
                "hyper": jax.tree.map(lambda _: 0.0, tree["hyper"]),
                "z": jax.tree.map(z_strength, tree["z"]),
                "ind": jax.tree.map(lambda _: self.reg_weight * self.ind_lr, tree["ind"]),
            }

        def hold(updates, state, params=None, *, keep=None, frozen=None, **extra):
            """Pruned units' z stay exactly 0; z and indicators are frozen after convergence."""
            del extra
            out = dict(updates)
            out["z"] = {
                g: jnp.where(keep[g] & ~frozen, u, jnp.where(keep[g], 0.0, -params["z"][g]))
                for g, u in updates["z"].items()
            }
            out["ind"] = jax.tree.map(lambda u: jnp.where(frozen, 0.0, u), updates["ind"])
            return out, state

        def scale_ind(updates, state, params=None, **extra):
            """The indicators' own learning rate: lr * `fmp.ind_lr` (their step and prox)."""
            del params, extra
            out = dict(updates)
            out["ind"] = jax.tree.map(lambda u: u * self.ind_lr, updates["ind"])
            return out, state

        def prox_init(params):
            return soft_threshold(0.0, self.lr).init(params)

        def prox_update(updates, state, params=None, **extra):
            tx = soft_threshold(strength(params), self.lr)
            return tx.update(updates, state, params, **extra)

        return optax.chain(
            base,
            optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), scale_ind),
            optax.GradientTransformationExtraArgs(prox_init, prox_update),
            optax.GradientTransformationExtraArgs(lambda p: optax.EmptyState(), hold),
        )

    def update_state(self, trainable: Any, state: dict, step: jax.Array) -> dict:
        frozen = state["frozen"]
        keep = {}
        for g in self.prunable:
            old, z = state["keep"][g], trainable["z"][g]
            mag = jnp.where(old, jnp.abs(z), -1.0)
            rank = jnp.argsort(jnp.argsort(-mag))  # 0 = largest |z| among the kept
            guard = rank < self.min_channels
            keep[g] = jnp.where(frozen, old, old & ((jnp.abs(z) >= self.threshold) | guard))
        live = {k: v != 0 for k, v in self._ind(trainable, state).items()}
        gc, gw = self.ratios(keep, live)
        met = ~frozen & converged(self.criterion, gc, gw, self.channel_ratio, self.weight_ratio)
        restored = state["restored"]
        if self.trim and self.criterion != "channel":
            restored = jax.lax.cond(
                met,
                lambda: self._trim(trainable, state, keep, gc, gw),
                lambda: state["restored"],
            )
            live = {k: (trainable["ind"][k] != 0) | restored[k] for k in self.kernels}
            gc, gw = self.ratios(keep, live)
        hold = frozen | met  # ind_prev stops at the step before the stop
        return {
            "keep": keep,
            "frozen": frozen | met,
            "converged_step": jnp.where(met, step, state["converged_step"]).astype(jnp.int32),
            "gamma_c": gc,
            "gamma_w": gw,
            "ind_prev": {
                k: jnp.where(hold, state["ind_prev"][k], trainable["ind"][k]) for k in self.kernels
            },
            "restored": restored,
        }

    def _trim(
        self, trainable: Any, state: dict, keep: dict, gc: jax.Array, gw: jax.Array
    ) -> dict[str, jax.Array]:
        """The stop lands on the target, not one step past it: of the weights the last step
        pruned (indicator nonzero before it, zero after, channels kept), the largest
        |indicator x generated weight| before the step are restored while the ratio stays
        >= the target (`fmp.trim`; the supplement is silent, an Adam step at a CPU search's
        learning rate moves whole layers of indicators to 0 at once)."""
        target = {"total": self.channel_ratio + self.weight_ratio}.get(
            self.criterion, self.weight_ratio
        )
        excess = (gc + gw if self.criterion == "total" else gw) - target
        z, kp = self._cat(trainable["z"]), self._cat(keep)
        total = sum(self.ratios.cost)
        cost = dict(zip(self.ratios.kernels, self.ratios.cost, strict=True))
        scores, values, cands = [], [], []
        for k in self.kernels:
            ii, io = self.index_in[k], self.index_out[k]
            prev = state["ind_prev"][k]
            gen = hypernet.generate(trainable["hyper"][k], z[ii], z[io])
            chan = (kp[ii][:, None] * kp[io][None, :]) > 0
            cand = (prev != 0) & (trainable["ind"][k] == 0) & chan & ~state["restored"][k]
            cands.append(cand.ravel())
            scores.append(jnp.where(cand, jnp.abs(prev * gen), -1.0).ravel())
            values.append(jnp.full(cand.size, cost[k] / cand.size / total))
        score, value, cand = (jnp.concatenate(x) for x in (scores, values, cands))
        order = jnp.argsort(-score, stable=True)
        cum = jnp.cumsum(jnp.where(cand[order], value[order], 0.0))
        back = jnp.zeros_like(cand).at[order].set(cand[order] & (cum <= excess))
        out, at = {}, 0
        for k in self.kernels:
            n = state["restored"][k].size
            out[k] = state["restored"][k] | back[at : at + n].reshape(state["restored"][k].shape)
            at += n
        return out

    def aux_loss(self, trainable: Any, state: dict, step: jax.Array) -> tuple[Any, dict]:
        del trainable, step
        metrics = {
            "gamma_c": state["gamma_c"],
            "gamma_w": state["gamma_w"],
            "searching": 1.0 - state["frozen"].astype(jnp.float32),
        }
        return jnp.zeros(()), metrics

    def events(self, state: dict) -> dict[str, jax.Array]:
        return {"converged": state["converged_step"]}

    def stop_event(self) -> str | None:
        return "converged"

    def export(self, trainable: Any, state: dict) -> Exported:
        params = self.model_params(trainable, state)
        flat = _flat(params)
        masks = {k: flat[k] != 0 for k in self.kernels}
        keep = jax.device_get(state["keep"])
        info = {
            "fmp": {
                "keep": {g: np.flatnonzero(v).tolist() for g, v in keep.items()},
                "gamma_c": float(state["gamma_c"]),
                "gamma_w": float(state["gamma_w"]),
            }
        }
        return Exported(params, masks=_nest(masks), info=info)


def make(cfg: Any) -> FMP:
    c = cfg.fmp
    model = build_model(cfg)
    graph = trace(model)
    prunable = tuple(select_groups(graph, list(c.rules), False))
    units = graph.axis_units()
    names = [g.name for g in graph.groups]
    offset = np.concatenate([[0], np.cumsum([g.size for g in graph.groups])])
    sel = set(prunable)
    kernels, idx_in, idx_out = [], {}, {}
    for k, shape in graph.shapes.items():
        if not k.endswith("kernel") or len(shape) != 4:
            continue
        pos, touched = {}, False
        for axis in (2, 3):
            grp, unit = units.get((k, axis), (np.full(shape[axis], -1), None))
            if unit is None:
                unit = np.zeros(shape[axis], int)
            live = np.asarray([g >= 0 and names[g] in sel for g in grp])
            touched |= bool(live.any())
            pos[axis] = np.where(live, offset[np.maximum(grp, 0)] + unit, offset[-1]).astype(
                np.int32
            )
        if touched:
            kernels.append(k)
            idx_in[k], idx_out[k] = pos[2], pos[3]
    shape = complexity.hd_lr_shape(int(cfg.model.scale))
    dense = complexity.conv_costs(model, shape)
    cost = dense if c.metric == "flops" else {k: float(np.prod(graph.shapes[k])) for k in dense}
    return FMP(
        groups=tuple(names),
        sizes=tuple(g.size for g in graph.groups),
        prunable=prunable,
        kernels=tuple(kernels),
        index_in=idx_in,
        index_out=idx_out,
        ratios=Ratios.build(graph, cost),
        criterion=str(c.criterion),
        channel_ratio=float(c.channel_ratio),
        weight_ratio=float(c.weight_ratio),
        reg_channel=float(c.reg_channel),
        reg_weight=float(c.reg_weight),
        ind_lr=float(c.ind_lr),
        threshold=float(c.threshold),
        emb=int(c.emb),
        min_channels=int(c.min_channels),
        trim=bool(c.trim),
        lr=make_schedule(cfg.optim),
    )


def check_config(cfg: Any) -> None:
    c = cfg.fmp  # its keys: `jaxsr.methods.spec.check_section`
    if c.criterion not in CRITERIA:
        raise ValueError(f"fmp.criterion={c.criterion!r}; known: {', '.join(CRITERIA)}")
    if c.metric not in ("flops", "params"):
        raise ValueError(f"fmp.metric={c.metric!r}; known: flops, params")
    for key in ("channel_ratio", "weight_ratio"):
        if not 0.0 <= float(c[key]) < 1.0:
            raise ValueError(f"fmp.{key}={c[key]} must be in [0, 1)")
    for key in ("reg_channel", "reg_weight", "threshold"):
        if float(c[key]) < 0:
            raise ValueError(f"fmp.{key}={c[key]} must be >= 0")
    if not isinstance(c.trim, bool):
        raise ValueError(f"fmp.trim={c.trim!r} must be True or False")
    if float(c.ind_lr) <= 0:
        raise ValueError(f"fmp.ind_lr={c.ind_lr} must be > 0")
    if int(c.min_channels) < 1 or int(c.emb) < 1 or int(c.search_steps) < 1:
        raise ValueError("fmp.min_channels, fmp.emb and fmp.search_steps must be >= 1")
    select_groups(trace(build_model(cfg)), list(c.rules), False)


def _materialise(ctx: Context) -> Start:
    d = ctx.previous[-1] / "final_model"
    model = build_model(ctx.cfg)
    params = jax.device_get(model_dir.load_params(d, model))
    masks = model_dir.load_masks(d)
    info = model_dir.read_meta(d)["info"]["fmp"]
    graph = trace(model)
    keep = {}
    for name, idx in info["keep"].items():
        k = np.zeros(graph.group(name).size, bool)
        k[idx] = True
        keep[name] = k
    pruned = surgery.prune_params(params, graph, keep)
    pruned_masks = surgery.prune_params(masks, graph, keep)
    o = ctx.cfg.model.get("overrides", {})
    o = o.to_dict() if hasattr(o, "to_dict") else dict(o)
    widths = {**dict(o.get("widths", {})), **surgery.widths(graph, keep)}
    return Start(MagnitudePruning("fmp", pruned_masks), pruned, overrides={**o, "widths": widths})


def _search_report(ctx: Context, summary: dict) -> dict:
    info = model_dir.read_meta(ctx.dir / "final_model")["info"]["fmp"]
    out = {
        "converged_step": summary["events"].get("converged", -1),
        "gamma_c": info.get("gamma_c"),
        "gamma_w": info.get("gamma_w"),
        "kept_units": {g: len(v) for g, v in info["keep"].items()},
        "eval": summary["final_eval"],
    }
    if out["converged_step"] < 0:
        ctx.log(f"fmp: WARNING: not converged in {summary['steps']} search steps")
    return out


def recipe(cfg: Any) -> list[Stage]:
    return [
        Stage(
            "search", int(cfg.fmp.search_steps), lambda ctx: Start(make(ctx.cfg)), _search_report
        ),
        Stage("finetune", int(cfg.train.steps), _materialise),
    ]


SPEC = MethodSpec(
    name="fmp",
    title="FMP: hypernetwork-driven joint channel + weight pruning",
    paper="fmp_supplementary.md",
    config="configs/fmp.py",
    exports="a smaller model (per-conv widths) + masks",
    recipe=recipe,
    section="fmp",
    defaults=default_config,
    check=check_config,
)
