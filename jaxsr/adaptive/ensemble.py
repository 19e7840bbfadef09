"""An adaptive ensemble: candidates, their MSE estimators, eq. 8 routing over tiles.

`Ensemble.load(estimator_dir)` rebuilds everything from the estimator's model directory
(its `info` names the candidates: jaxsr model dirs or "bicubic", and the tiling it was
trained for). `ensemble(lr, beta)` then

1. cuts the LR image into the `jaxsr.adaptive.tiles.Grid` windows,
2. runs every MSE estimator on every window (batched),
3. picks a candidate per tile by eq. 8 (`jaxsr.adaptive.router`),
4. runs each candidate once over the batch of its own tiles (padded to a multiple of 8;
   images with more than `batch` tiles of one candidate: several calls, bounding memory),
5. blends the tiles' outputs into the HR image,

and returns the image with the choice map and the realised MACs (the chosen candidates'
MACs on their windows, zeros of N:M weights not counted, plus the estimators'). Every model
compiles once per (window, padded batch) shape: at most batch / 8 shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsr import complexity, model_dir, models
from jaxsr.adaptive import bicubic, router, tiles

BICUBIC = "bicubic"


@dataclasses.dataclass
class Candidate:
    """One SR candidate: "bicubic" or a model dir, with its MACs per window."""

    name: str
    module: Any  # None for bicubic
    params: Any
    macs: int  # per window

    def apply(self, params: Any, x: jax.Array, scale: int) -> jax.Array:
        if self.module is None:
            return bicubic.upscale(x, scale)
        return self.module.apply({"params": params}, x)


def load_candidate(spec: str, scale: int, window: int) -> Candidate:
    """A candidate from "bicubic" or a jaxsr SR model directory of the same `scale`."""

    if spec == BICUBIC:
        return Candidate(BICUBIC, None, None, bicubic.macs((window, window), scale))
    path = Path(spec)
    meta = model_dir.read_meta(path)
    if models.spec(meta["model"]).kind != "sr":
        raise ValueError(f"candidate {spec}: holds a {meta['model']!r}, not an SR model")
    if int(meta["scale"]) != scale:
        raise ValueError(f"candidate {spec}: is x{meta['scale']}, the ensemble is x{scale}")
    module, params, _ = model_dir.load_model(path)
    macs = complexity.pruned_report(path, (window, window)).macs
    return Candidate(str(path), module, params, macs)


def params_digest(params: Any) -> str | None:
    """sha256 (16 hex) of a params pytree (paths and float32 bytes); None for None."""
    import hashlib

    from flax import traverse_util

    if params is None:
        return None
    h = hashlib.sha256()
    for k, v in sorted(traverse_util.flatten_dict(params, sep="/").items()):
        h.update(k.encode())
        h.update(np.ascontiguousarray(np.asarray(v, np.float32)).tobytes())
    return h.hexdigest()[:16]


def estimator_macs(module: Any, window: int) -> int:

    return sum(c.macs for c in complexity.trace_convs(module, (window, window)))


@dataclasses.dataclass
class Result:
    image: np.ndarray  # (h*s, w*s, 3) float, not clipped (as the models' outputs)
    choices: np.ndarray  # (rows, cols) candidate index per tile
    est_mse: np.ndarray | None  # (rows, cols, n) estimated MSE per tile and candidate
    macs: int  # realised: chosen candidates + estimators (when they ran)


@dataclasses.dataclass
class Ensemble:
    candidates: list[Candidate]
    estimator: Any  # MSEEstimator module
    estimator_params: Any
    scale: int
    core: int = 32
    context: int = 8
    blend: int = 4
    batch: int = 128  # tiles per call: one call per model per image up to ~a 2K image

    def __post_init__(self) -> None:
        n = len(self.candidates)
        if n < 2:
            raise ValueError(f"an ensemble needs >= 2 candidates, got {n}")
        if self.estimator.num_candidates != n:
            raise ValueError(
                f"estimator has {self.estimator.num_candidates} outputs, {n} candidates"
            )
        tiles.Grid(
            self.core + 2 * self.context,
            self.core + 2 * self.context,
            self.core,
            self.context,
            self.blend,
            self.scale,
        )
        self._est = jax.jit(lambda p, x: jnp.exp(self.estimator.apply({"params": p}, x)))
        self._fns = [jax.jit(lambda p, x, c=c: c.apply(p, x, self.scale)) for c in self.candidates]
        self.est_macs = estimator_macs(self.estimator, self.window)

    @property
    def window(self) -> int:
        return self.core + 2 * self.context

    @property
    def costs(self) -> np.ndarray:
        return np.array([c.macs for c in self.candidates], np.float64)

    @classmethod
    def load(cls, directory: str | Path, blend: int | None = None, batch: int = 128) -> Ensemble:

        meta = model_dir.read_meta(directory)
        if models.spec(meta["model"]).kind != "estimator":
            raise ValueError(f"{directory}: holds {meta['model']!r}, not an MSE estimator")
        info = meta.get("info") or {}
        missing = [k for k in ("candidates", "core", "context") if k not in info]
        if missing:
            raise ValueError(
                f"{directory}: model info lacks {missing} (not from configs/adaptive.py?)"
            )
        module, params, _ = model_dir.load_model(directory)
        scale = int(meta["scale"])
        window = int(info["core"]) + 2 * int(info["context"])
        cands = [load_candidate(s, scale, window) for s in info["candidates"]]
        digests = info.get("params_sha256") or [None] * len(cands)
        for c, digest in zip(cands, digests, strict=True):
            if digest is not None and params_digest(c.params) != digest:
                raise ValueError(
                    f"{directory}: candidate {c.name} changed since its estimators were trained "
                    "(params differ); retrain them"
                )
        return cls(
            cands,
            module,
            params,
            scale,
            int(info["core"]),
            int(info["context"]),
            int(info.get("blend", 4) if blend is None else blend),
            batch,
        )

    def grid(self, h: int, w: int) -> tiles.Grid:
        return tiles.Grid(h, w, self.core, self.context, self.blend, self.scale)

    def estimate(self, windows: np.ndarray) -> np.ndarray:
        """(n, num_candidates) estimated MSE of each candidate on each window."""
        return tiles.run_batched(lambda x: self._est(self.estimator_params, x), windows, self.batch)

    def run_model(self, i: int, windows: np.ndarray) -> np.ndarray:
        c = self.candidates[i]
        return tiles.run_batched(lambda x: self._fns[i](c.params, x), windows, self.batch)

    def __call__(
        self, lr: np.ndarray, beta: float = 0.0, choices: np.ndarray | None = None
    ) -> Result:
        """Upscale `lr` (h, w, 3; uint8 or float in [0, 1]); `choices` (rows, cols) replaces
        the router (e.g. one candidate everywhere): then no estimator runs (`est_mse` None)."""
        x = lr.astype(np.float32) / 255.0 if lr.dtype == np.uint8 else lr.astype(np.float32)
        g = self.grid(*x.shape[:2])
        windows = g.extract(x)
        if choices is None:
            est = self.estimate(windows)
            pick = np.asarray(router.choose(self.costs, est, beta))
            est_macs = len(windows) * self.est_macs
        else:
            est, est_macs = None, 0
            pick = np.asarray(choices)
            n = len(self.candidates)
            if (
                pick.shape != g.shape
                or not np.issubdtype(pick.dtype, np.integer)
                or pick.min() < 0
                or pick.max() >= n
            ):
                raise ValueError(f"choices: need a {g.shape} integer array of indices < {n}")
            pick = pick.reshape(-1)
        t = self.window * self.scale
        outs = np.zeros((len(windows), t, t, 3), np.float32)
        for i in range(len(self.candidates)):
            idx = np.flatnonzero(pick == i)
            if len(idx):
                outs[idx] = self.run_model(i, windows[idx])
        image = g.assemble(outs)
        macs = int(self.costs[pick].sum()) + est_macs
        rc = g.shape
        return Result(image, pick.reshape(rc), None if est is None else est.reshape(*rc, -1), macs)

    def single(self, lr: np.ndarray, i: int) -> np.ndarray:
        """Candidate `i` alone on the same tiles (no estimators): the tiled baseline."""
        x = lr.astype(np.float32) / 255.0 if lr.dtype == np.uint8 else lr.astype(np.float32)
        g = self.grid(*x.shape[:2])
        return g.assemble(self.run_model(i, g.extract(x)))


PALETTE = np.array(
    [[228, 26, 28], [255, 127, 0], [77, 175, 74], [55, 126, 184], [152, 78, 163], [166, 86, 40]],
    np.float32,
)


def choice_map(image: np.ndarray, choices: np.ndarray, grid: tiles.Grid) -> np.ndarray:
    """uint8 (H, W, 3): the SR image in grey tinted per tile by the chosen candidate (colour
    PALETTE[i % 6] for candidate i in the ensemble's order: red, orange, green, blue, purple,
    brown), core borders in black, like SLS Fig. 3."""
    grey = np.clip(image, 0, 1).mean(axis=-1, keepdims=True) * 255.0
    colour = PALETTE[grid.expand(choices) % len(PALETTE)]
    out = 0.5 * grey + 0.5 * colour
    s = grid.scale
    for r in grid.rows[1:]:
        if r.start * s < out.shape[0]:
            out[r.start * s, :] = 0
    for c in grid.cols[1:]:
        if c.start * s < out.shape[1]:
            out[:, c.start * s] = 0
    return np.round(out).astype(np.uint8)


def log_mse_error(
    ens: Ensemble, pairs: list[tuple[np.ndarray, np.ndarray]], constant: bool = False
) -> dict[str, Any]:
    """How good the estimators are on (lr, hr) uint8 pairs: per candidate the mean |log f -
    log MSE| over the tiles' cores, and how often argmin f = argmin MSE (the true best).
    `constant`: score instead the best constant predictor (per candidate, the median of
    the true log MSEs: the floor of an estimator that ignores its input)."""
    ests, trues = [], []
    s = ens.scale
    for lr, hr in pairs:
        g = ens.grid(*lr.shape[:2])
        win = g.extract(lr.astype(np.float32) / 255.0)
        est = ens.estimate(win)
        y = hr.astype(np.float32) / 255.0
        true = np.zeros_like(est)
        for i in range(len(ens.candidates)):
            out = np.clip(ens.run_model(i, win), 0, 1)
            k = 0
            for r in g.rows:
                for c in g.cols:
                    r1, c1 = min(r.stop, g.h), min(c.stop, g.w)  # tiny images are padded
                    if r.start < r1 and c.start < c1:
                        o = out[
                            k,
                            (r.start - r.window) * s : (r1 - r.window) * s,
                            (c.start - c.window) * s : (c1 - c.window) * s,
                        ]
                        t = y[r.start * s : r1 * s, c.start * s : c1 * s]
                        true[k, i] = np.mean((o - t) ** 2)
                    k += 1
        ok = np.all(true > 0, axis=1)
        ests.append(est[ok])
        trues.append(true[ok])
    est, true = np.concatenate(ests), np.concatenate(trues)
    lt = np.log(true)
    le = np.broadcast_to(np.median(lt, axis=0), lt.shape) if constant else np.log(est)
    hits = int(np.sum(np.argmin(le, 1) == np.argmin(lt, 1)))
    return {
        "tiles": len(lt),
        "abs_log_err": np.abs(le - lt).mean(axis=0).tolist(),
        "best_match": hits / max(len(lt), 1),
    }


def make_sr_fn(ens: Ensemble, beta: float, sink: Callable[[Result], None] | None = None):
    """`lr -> HR float` for `jaxsr.evaluate`, passing every `Result` to `sink`."""

    def fn(lr: np.ndarray) -> np.ndarray:
        res = ens(lr, beta)
        if sink is not None:
            sink(res)
        return res.image

    return fn
