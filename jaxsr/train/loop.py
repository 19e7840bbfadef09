"""The training loop of one stage: data, steps, evaluation, checkpoints, logs, resume.

`fit(cfg, workdir, method)` trains (or resumes) one stage; `jaxsr.train.stages` drives a
method's recipe of stages. The same code runs on one CPU, several (simulated or real) devices
and several processes or hosts (`config.distributed`, see `jaxsr.distributed`). Metrics stay
on device and are fetched only every `log_every` steps. Methods plug in through the hooks of
`jaxsr.methods.Method` (used in `jaxsr.train.step` and for eval/export here); this file
knows no method.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxsr import (
    distributed,
    evaluation,
    files,
    model_dir,
    models,
    nonfinite,
    startpoints,
)
from jaxsr.checkpoints import Checkpointer
from jaxsr.data import pipeline, tfds_builders
from jaxsr.data.benchmark import BenchmarkSet, load_set
from jaxsr.data.imresize import upscale
from jaxsr.inference import Predictor
from jaxsr.interrupt import Interrupted, StopRequest
from jaxsr.methods.base import Exported, Method
from jaxsr.metric_writer import MetricWriter, read_metrics
from jaxsr.progress import Progress
from jaxsr.state import TrainState, build_optimizer, init_state
from jaxsr.train.config import check_train_config
from jaxsr.train.step import make_mesh, make_train_step, shard_batch


def load_train_pairs(cfg: Any, scale: int) -> tfds_builders.Pairs:
    """Decode the configured TFDS training split into RAM."""
    tcfg = cfg.data.train.to_dict() if hasattr(cfg.data.train, "to_dict") else dict(cfg.data.train)
    kind = tcfg.pop("builder")
    split = tcfg.pop("split", "train")
    if kind == "sr_folder":
        tcfg["splits"] = {k: [tuple(d) for d in v] for k, v in tcfg["splits"].items()}
    tcfg.setdefault("scale", scale)
    if tcfg["scale"] != scale:
        raise ValueError(f"data.train.scale={tcfg['scale']} but model.scale={scale}")
    builder = tfds_builders.prepare(kind, cfg.data.get("data_dir") or None, **tcfg)
    return tfds_builders.load_pairs(builder, split)


def load_eval_sets(cfg: Any, scale: int) -> list[BenchmarkSet]:
    root = cfg.eval.get("root")
    if not root or not cfg.eval.sets:
        return []
    return [load_set(root, name, scale) for name in cfg.eval.sets]


def evaluate_params(
    pred: Predictor, params: Any, sets: list[BenchmarkSet], sample: dict | None = None
) -> dict[str, float]:
    """Mean Y-PSNR/SSIM (and RGB PSNR) per set: keys like `Set5/psnr_y`. `sample` (a dict)
    receives the first image of the first set: its name, LR, SR (uint8) and HR."""
    pred.params = params
    return evaluation.set_means(pred, sets, sample)


def sample_crop(sample: dict, scale: int, size: int = 96) -> np.ndarray:
    """Bicubic | SR | HR side by side: the centre `size` x `size` HR pixels (a multiple of
    `scale`; the whole image if smaller), for TensorBoard."""

    lr, hr = sample["lr"], sample["hr"]
    ch, cw = (min(size, d) // scale for d in hr.shape[:2])
    y0, x0 = (lr.shape[0] - ch) // 2, (lr.shape[1] - cw) // 2
    bic = upscale(lr, scale)
    ys, xs = slice(y0 * scale, (y0 + ch) * scale), slice(x0 * scale, (x0 + cw) * scale)
    gap = np.full((ch * scale, 2, 3), 255, np.uint8)
    parts = [np.asarray(x[ys, xs], np.uint8) for x in (bic, sample["sr"], hr)]
    return np.concatenate([parts[0], gap, parts[1], gap, parts[2]], axis=1)


def layer_sparsity(params: Any) -> dict[str, float]:
    """Fraction of exact zeros of every conv kernel (4-d leaf), by param path."""
    from flax import traverse_util

    flat = traverse_util.flatten_dict(jax.device_get(params))
    return {
        "/".join(k): float(np.mean(np.asarray(v) == 0)) for k, v in flat.items() if np.ndim(v) == 4
    }


def _save_model(cfg: Any, directory: Path, exported: Exported, source: str) -> None:
    """A model directory (usable by `jaxsr.evaluate --weights` and `init_from`)."""
    overrides = exported.overrides
    model_dir.save_model(
        directory,
        jax.device_get(exported.params),
        models.spec(cfg.model.name).name,
        int(cfg.model.scale),
        dict(cfg.model.get("overrides", {})) if overrides is None else overrides,
        source=source,
        overwrite=True,
        masks=None if exported.masks is None else jax.device_get(exported.masks),
        info=exported.info,
    )


def _isatty() -> bool:
    import sys

    return sys.stderr.isatty()


def prepare_workdir(cfg: Any, workdir: str | os.PathLike, initial: dict | None = None) -> Path:
    """Check the config and the workdir before any compute (one-line errors)."""
    check_train_config(cfg)
    workdir = files.check_workdir(workdir)
    done = files.checkpoint_steps(workdir / "checkpoints")
    total = int(cfg.train.steps)
    if done and done[-1] > total:
        raise ValueError(
            f"train.steps={total} but {workdir} already has a checkpoint at step {done[-1]}; "
            "raise train.steps to continue, or use a new --workdir"
        )
    start = int((initial or {}).get("step", 0))
    if start > total:
        raise ValueError(f"train.steps={total} is before the start step {start}")
    return workdir


STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
_TS_OS_ERROR = re.compile(r"os_error_code='?(\d+)")


class StorageError(RuntimeError):
    """The workdir's storage refused a write (full, read-only, over quota)."""


def _storage_errno(e: BaseException | None) -> int | None:
    """The storage errno in `e` or the exceptions it was raised from / while handling."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return e.errno
        # TensorStore (Orbax's array writer) raises ValueError("RESOURCE_EXHAUSTED: ...
        # [os_error_code='28']") rather than an OSError
        m = _TS_OS_ERROR.search(str(e))
        if m and int(m.group(1)) in STORAGE_ERRNOS:
            return int(m.group(1))
        e = e.__cause__ or e.__context__
    return None


def fit(
    cfg: Any,
    workdir: str | Path,
    method: Method | None = None,
    quiet: bool = False,
    initial: dict | None = None,
) -> dict:
    """Train (or resume) one stage according to `cfg` in `workdir`; returns a summary dict.
    A full, read-only or over-quota disk ends in one `StorageError` naming the workdir and
    the last complete checkpoint (the rerun resumes from it; nothing else is damaged).

    `initial` (used only when `workdir` has no checkpoint yet) starts from given model
    `params` (passed through `method.init`), at step `step` (the lr schedule continues from
    there) and data position `data_state` — how a pruning round starts from a rewind point.
    The optimizer state starts fresh.

    Raises `nonfinite.Diverged` (policy `train.nonfinite`), `interrupt.Interrupted` (SIGINT/
    SIGTERM, after saving a checkpoint), `jaxsr.checkpoints.CheckpointError` (no checkpoint of
    the workdir loads), `ValueError`/`FileNotFoundError` (bad config, before any compute)."""
    try:
        return _fit(cfg, workdir, method, quiet, initial)
    except Exception as e:
        code = _storage_errno(e)
        if code is None:
            raise
        ckpts = Path(workdir).absolute() / "checkpoints"
        steps = files.checkpoint_steps(ckpts)
        last = f"step {steps[-1]} ({ckpts}/{steps[-1]})" if steps else "none yet"
        raise StorageError(
            f"{Path(workdir).absolute()}: {os.strerror(code)}; last complete checkpoint: "
            f"{last}; free space (or fix the mount) and rerun the same command to resume"
        ) from None


def _fit(
    cfg: Any,
    workdir: str | Path,
    method: Method | None,
    quiet: bool,
    initial: dict | None,
) -> dict:
    t_start = time.perf_counter()
    method = method or Method()
    workdir = prepare_workdir(cfg, workdir, initial)
    distributed.initialize(cfg)  # before any JAX computation; no-op unless cfg.distributed
    lead = jax.process_index() == 0

    def say(msg: str) -> None:
        if lead:
            print(msg, file=sys.stderr, flush=True)

    if lead:
        files.write_text_atomic(workdir / "config.json", cfg.to_json_best_effort(indent=2) + "\n")
        for stale in model_dir.remove_stale_tmp(workdir):
            say(f"removed {stale.name}, left by an interrupted save")

    scale = int(cfg.model.scale)
    model = models.create(cfg.model.name, scale, **dict(cfg.model.get("overrides", {})))
    mesh = make_mesh(cfg.mesh.get("num_devices") or None)
    n_dev = mesh.devices.size
    if cfg.data.batch_size % n_dev:
        raise ValueError(f"data.batch_size={cfg.data.batch_size} not divisible by {n_dev} devices")

    with distributed.lead_first("train_data"):  # process 0 builds the TFDS dataset once
        pairs = load_train_pairs(cfg, scale)
    ds = pipeline.train_dataset(
        pairs,
        int(cfg.data.hr_patch),
        scale,
        int(cfg.data.batch_size),
        int(cfg.seed),
        jax.process_index(),
        jax.process_count(),
        bool(cfg.data.augment),
        bool(cfg.data.get("skip_small", True)),
    )
    it = pipeline.train_iterator(ds, int(cfg.data.num_threads), int(cfg.data.prefetch))
    eval_sets = load_eval_sets(cfg, scale)

    tx = build_optimizer(cfg, method)
    ema_decay = float(cfg.optim.get("ema_decay", 0.0))
    repl = NamedSharding(mesh, PartitionSpec())
    init_params = (initial or {}).get("params")
    if init_params is None:
        init_params = startpoints.initial_params(cfg, model)
    state = init_state(model, tx, int(cfg.seed), ema_decay > 0, method, init_params)
    if initial and initial.get("step"):
        state = state.replace(step=jnp.asarray(int(initial["step"]), jnp.int32))
    # the step donates the state: give it buffers of its own, never the caller's arrays
    state = jax.device_put(jax.tree.map(lambda x: jnp.array(x, copy=True), state), repl)
    step_fn = make_train_step(model, tx, cfg.train.loss, ema_decay, mesh, method)

    ckpt = Checkpointer(
        workdir / "checkpoints",
        int(cfg.ckpt.every),
        int(cfg.ckpt.keep),
        tuple(cfg.ckpt.get("keep_steps", ())),
        bool(cfg.ckpt.get("async", True)),
    )
    writer = MetricWriter(workdir, bool(cfg.get("tensorboard", True)), enabled=lead)
    best = {"step": -1, "value": -math.inf}
    last_eval: dict[str, float] = {}
    start = int(initial.get("step", 0)) if initial else 0
    first_step = start  # where this stage's training began (a rewind point's step)
    if initial and initial.get("data_state") is not None:
        it.set_state(initial["data_state"])

    def reject(restored: TrainState) -> str | None:
        return None if _finite_state(restored) else "non-finite params"

    restored = ckpt.restore_latest(state, say, reject)
    latest = None
    if restored is not None:
        latest, state, data_state, meta = restored
        it.set_state(data_state)
        best = meta.get("best", best)
        last_eval = meta.get("last_eval", {})
        start = latest
        if lead and not quiet:
            print(f"resumed from {ckpt.directory}/{latest}")
    writer.truncate_after(start)  # drop records a killed run wrote after its last checkpoint
    announced = _logged_events(workdir) if lead else {}

    def log_events() -> None:  # the method's one-off events (e.g. SLS's budget step), once
        events = method.events(state.extra)
        if not events:
            return
        for name, at in jax.device_get(events).items():
            if int(at) >= 0 and name not in announced:
                announced[name] = int(at)
                say(f"{method.name}: {name} at step {int(at)}")
                writer.write(int(at), "event", {name: int(at)})

    total = int(cfg.train.steps)  # start == total: all steps done, only the outputs are left
    stop_event = method.stop_event()

    def stopped() -> bool:  # the method's stop event has happened (e.g. FMP converged)
        if stop_event is None:
            return False
        return int(jax.device_get(method.events(state.extra)[stop_event])) >= 0

    if stopped():  # resumed from the checkpoint of an early stop: only the outputs are left
        total = start
    log_every, eval_every = int(cfg.train.log_every), int(cfg.eval.every)
    select = cfg.eval.get("select", "")
    policy = cfg.train.get("nonfinite", "stop")
    max_skips = int(cfg.train.get("max_nonfinite", 0))
    pred = Predictor(model, None, scale)
    bar = None
    if lead and not quiet:
        bar = Progress(total - start, "train", interval=0.5 if _isatty() else 10.0)
    pending: list[dict] = []
    saved = latest
    t_log, n_log = time.perf_counter(), 0

    def health(step: int, counts: tuple[int, int] | None = None) -> None:
        n_bad, first = counts or (int(state.nonfinite), int(state.first_nonfinite))
        where = f"last finite checkpoint: step {saved}" if saved else "no checkpoint was saved"
        nonfinite.check(policy, n_bad, first, max_skips, f"{where} in {ckpt.directory}")

    if total == start and latest is None and eval_sets:  # a 0-step stage: evaluate its start
        p0 = state.ema_params if ema_decay > 0 else state.params
        exported = method.export(p0, state.extra)
        last_eval = evaluate_params(pred, exported.params, eval_sets)
        writer.write(total, "eval", last_eval)
        if select and select in last_eval:
            best = {"step": total, "value": last_eval[select]}
            if lead:
                _save_model(cfg, workdir / "best_model", exported, f"{workdir} step {total}")
    stop = StopRequest()
    try:
        with stop:
            for step in range(start, total):
                batch = shard_batch(next(it), mesh)
                state, m = step_fn(state, batch)
                pending.append(m)
                n_log += 1
                done = step + 1
                counts = None
                if done % log_every == 0 or done == total:
                    vals = jax.device_get(pending)  # the loop's host sync
                    dt = time.perf_counter() - t_log
                    keys = [k for k in vals[-1] if k != "nonfinite"]  # loss, grad_norm, method's
                    rec = {k: float(np.mean([v[k] for v in vals])) for k in keys}
                    counts = (int(vals[-1]["nonfinite"]), -1)
                    if counts[0]:
                        rec["nonfinite"] = counts[0]
                        counts = (counts[0], int(state.first_nonfinite))
                    rec["steps_per_s"] = n_log / dt
                    rec["patches_per_s"] = n_log * int(cfg.data.batch_size) / dt
                    writer.write(done, "train", rec)
                    pending, t_log, n_log = [], time.perf_counter(), 0
                    health(done, counts)
                    log_events()
                    if stopped():
                        total = done  # ends the stage here: final checkpoint, model, summary
                    if bar:
                        psnr = next(
                            (
                                f" psnr {v:.2f}"
                                for k, v in last_eval.items()
                                if k.endswith("psnr_y")
                            ),
                            "",
                        )
                        bar.update(0, f"loss {rec['loss']:.5f}{psnr}")
                if eval_sets and (done % eval_every == 0 or done == total):
                    if counts is None:
                        health(done)
                    eval_params = state.ema_params if ema_decay > 0 else state.params
                    exported = method.export(eval_params, state.extra)
                    sample: dict = {}
                    last_eval = evaluate_params(pred, exported.params, eval_sets, sample)
                    writer.write(done, "eval", last_eval)
                    if lead:  # what TensorBoard shows beside the scalars
                        writer.write(done, "sparsity", layer_sparsity(exported.params))
                        writer.write_image(done, "bicubic_sr_hr", sample_crop(sample, scale))
                    t_log = time.perf_counter()  # keep eval time out of the steps/s window
                    if select and select in last_eval and last_eval[select] > best["value"]:
                        best = {"step": done, "value": last_eval[select]}
                        if lead:
                            _save_model(
                                cfg, workdir / "best_model", exported, f"{workdir} step {done}"
                            )
                # a stop request (signal) must be agreed by all processes, at the same step
                interrupted = (
                    stop.requested is not None
                    if jax.process_count() == 1
                    else (done % log_every == 0 or done == total)
                    and distributed.any_process(stop.requested is not None)
                )
                if done == total or interrupted or ckpt.should_save(done):
                    if counts is None:
                        health(done)  # never checkpoint past a non-finite step
                    meta = {"best": best, "method": method.name, "last_eval": last_eval}
                    if ckpt.save(
                        done, state, it.get_state(), meta, force=done == total or interrupted
                    ):
                        saved = done
                if bar:
                    bar.update(1, bar.postfix)
                if done == total:  # the last step, or the method's stop event
                    break
                if interrupted and done < total:  # at the last step: just finish
                    ckpt.close()
                    raise Interrupted(
                        f"{stop.requested or 'stop request'} at step {done}: checkpoint saved in "
                        f"{ckpt.directory}/{done}; rerun the same command to resume"
                    )
    finally:
        ckpt.close()
        writer.flush()
        writer.close()
        if bar:
            bar.close()
    health(total)
    final_params = state.ema_params if ema_decay > 0 else state.params
    summary = {
        "steps": total,
        "first_step": first_step,
        "resumed_from": latest,
        "wall_s": time.perf_counter() - t_start,
        "best": best,
        "final_eval": last_eval,
        "devices": n_dev,
        "processes": jax.process_count(),
        "nonfinite_skipped": int(state.nonfinite),
        "first_nonfinite": int(state.first_nonfinite),
        "events": {k: int(v) for k, v in jax.device_get(method.events(state.extra)).items()},
    }
    exported = method.export(final_params, state.extra)  # every process: may compute on device
    if lead:
        _save_model(cfg, workdir / "final_model", exported, str(workdir))
        files.write_text_atomic(workdir / "summary.json", json.dumps(summary, indent=2) + "\n")
        if not quiet:
            parts = [f"done: {total} steps in {summary['wall_s']:.1f}s on {n_dev} device(s)"]
            if last_eval:
                parts.append(" ".join(f"{k}={v:.3f}" for k, v in last_eval.items()))
            if best["step"] >= 0:  # a stage without evaluation has no best
                parts.append(f"best {select} {best['value']:.3f} @ {best['step']}")
            print("; ".join([*parts, f"workdir {workdir}"]))
    # no process goes on (a stage report, the next stage) before process 0 wrote the results
    distributed.barrier(f"fit done {workdir}")
    return summary


def _logged_events(workdir: Path) -> dict[str, int]:
    """Events already in metrics.jsonl (kept by `truncate_after`): not logged again."""
    if not (workdir / "metrics.jsonl").exists():
        return {}
    out = {}
    for rec in read_metrics(workdir):
        if rec.get("kind") == "event":
            out.update({k: v for k, v in rec.items() if k not in ("step", "kind")})
    return out


def _finite_state(state: TrainState) -> bool:
    return not model_dir.nonfinite_leaves((state.params, state.ema_params))
