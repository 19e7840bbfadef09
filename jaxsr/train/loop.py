"""The training loop of one stage: data, steps, evaluation, checkpoints, logs, resume.

`fit(cfg, workdir, method)` trains (or resumes) one stage; `jaxsr.train.stages` drives a
method's recipe of stages. The same code runs on one CPU, several (simulated or real) devices
and several processes or hosts (`config.distributed`, see `jaxsr.distributed`). Methods plug
in through the hooks of `jaxsr.methods.Method` (used in `jaxsr.train.step` and for eval/export
here); this file knows no method. Its parts: `evaluator` (in-training evaluation, the best
so far), `exporter` (model dirs, summary), `run_log` (metrics, events, images, progress),
`jaxsr.checkpoints` (Orbax checkpoints); the loop itself is data, state, steps and resume.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from jaxsr import distributed, files, model_dir, models, nonfinite, startpoints
from jaxsr.checkpoints import Checkpointer
from jaxsr.data import pipeline, tfds_builders
from jaxsr.interrupt import Interrupted, StopRequest
from jaxsr.methods.base import Method
from jaxsr.state import TrainState, build_optimizer, init_state
from jaxsr.train.config import check_train_config
from jaxsr.train.evaluator import Evaluator
from jaxsr.train.exporter import Exporter
from jaxsr.train.run_log import RunLog, say
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


def train_iterator(cfg: Any, scale: int) -> Any:
    """The stage's training batches: this process's share, checkpointable (grain)."""
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
    return pipeline.train_iterator(ds, int(cfg.data.num_threads), int(cfg.data.prefetch))


def start_state(
    cfg: Any, model: Any, tx: Any, method: Method, initial: dict | None, mesh: Any
) -> TrainState:
    """The state before the first step: the given start point (`initial`) or `init_from` /
    the seeded init, through the method's `init`, replicated on the mesh."""
    init_params = (initial or {}).get("params")
    if init_params is None:
        init_params = startpoints.initial_params(cfg, model)
    ema = float(cfg.optim.get("ema_decay", 0.0)) > 0
    state = init_state(model, tx, int(cfg.seed), ema, method, init_params)
    if initial and initial.get("step"):
        state = state.replace(step=jnp.asarray(int(initial["step"]), jnp.int32))
    # the step donates the state: give it buffers of its own, never the caller's arrays
    # (`may_alias=False` copies without compiling a program per leaf shape)
    repl = NamedSharding(mesh, PartitionSpec())
    return jax.device_put(state, repl, may_alias=False)


def _isatty() -> bool:
    return sys.stderr.isatty()


def prepare_workdir(
    cfg: Any, workdir: str | os.PathLike, initial: dict | None = None, checked: bool = False
) -> Path:
    """Check the config (unless the caller did: `checked`) and the workdir before any
    compute (one-line errors)."""
    if not checked:
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


def fit(
    cfg: Any,
    workdir: str | Path,
    method: Method | None = None,
    quiet: bool = False,
    initial: dict | None = None,
    checked: bool = False,
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
    the workdir loads), `ValueError`/`FileNotFoundError` (bad config, before any compute).
    `checked`: the caller checked the config (`jaxsr.train.stages` checks a run's once)."""
    try:
        return _fit(cfg, workdir, method, quiet, initial, checked)
    except Exception as e:
        code = files.storage_errno(e)
        if code is None:
            raise
        ckpts = Path(workdir).absolute() / "checkpoints"
        steps = files.checkpoint_steps(ckpts)
        last = f"step {steps[-1]} ({ckpts}/{steps[-1]})" if steps else "none yet"
        raise files.StorageError(
            f"{Path(workdir).absolute()}: {os.strerror(code)}; last complete checkpoint: "
            f"{last}; free space (or fix the mount) and rerun the same command to resume"
        ) from None


def _fit(
    cfg: Any,
    workdir: str | Path,
    method: Method | None,
    quiet: bool,
    initial: dict | None,
    checked: bool,
) -> dict:
    t_start = time.perf_counter()
    method = method or Method()
    workdir = prepare_workdir(cfg, workdir, initial, checked)
    distributed.initialize(cfg)  # before any JAX computation; no-op unless cfg.distributed
    lead = jax.process_index() == 0

    if lead:
        files.write_text_atomic(workdir / "config.json", cfg.to_json_best_effort(indent=2) + "\n")
        for stale in model_dir.remove_stale_tmp(workdir):
            say(lead, f"removed {stale.name}, left by an interrupted save")

    scale = int(cfg.model.scale)
    model = models.create(cfg.model.name, scale, **dict(cfg.model.get("overrides", {})))
    mesh = make_mesh(cfg.mesh.get("num_devices") or None)
    n_dev = mesh.devices.size
    if cfg.data.batch_size % n_dev:
        raise ValueError(f"data.batch_size={cfg.data.batch_size} not divisible by {n_dev} devices")

    it = train_iterator(cfg, scale)
    evaluator = Evaluator(cfg, model, scale)

    tx = build_optimizer(cfg, method)
    ema_decay = float(cfg.optim.get("ema_decay", 0.0))
    state = start_state(cfg, model, tx, method, initial, mesh)
    step_fn = make_train_step(model, tx, cfg.train.loss, ema_decay, mesh, method)

    ckpt = Checkpointer(
        workdir / "checkpoints",
        int(cfg.ckpt.every),
        int(cfg.ckpt.keep),
        tuple(cfg.ckpt.get("keep_steps", ())),
        bool(cfg.ckpt.get("async", True)),
    )
    log = RunLog(cfg, workdir, method, lead, quiet)
    exporter = Exporter(cfg, workdir, lead)
    start = int(initial.get("step", 0)) if initial else 0
    first_step = start  # where this stage's training began (a rewind point's step)
    if initial and initial.get("data_state") is not None:
        it.set_state(initial["data_state"])

    def reject(restored: TrainState) -> str | None:
        return None if _finite_state(restored) else "non-finite params"

    restored = ckpt.restore_latest(state, log.say, reject)
    latest = None
    if restored is not None:
        latest, state, data_state, meta = restored
        it.set_state(data_state)
        evaluator.restore(meta)
        start = latest
        if lead and not quiet:
            print(f"resumed from {ckpt.directory}/{latest}")
    log.resume(start)

    total = int(cfg.train.steps)  # start == total: all steps done, only the outputs are left
    stop_event = method.stop_event()

    def stopped() -> bool:  # the method's stop event has happened (e.g. FMP converged)
        if stop_event is None:
            return False
        return int(jax.device_get(method.events(state.extra)[stop_event])) >= 0

    def model_params() -> Any:  # what is evaluated and exported: the EMA if kept
        return state.ema_params if ema_decay > 0 else state.params

    if stopped():  # resumed from the checkpoint of an early stop: only the outputs are left
        total = start
    log_every = int(cfg.train.log_every)
    policy = cfg.train.get("nonfinite", "stop")
    max_skips = int(cfg.train.get("max_nonfinite", 0))
    log.progress(total - start, _isatty())
    saved = latest

    def health(step: int, counts: tuple[int, int] | None = None) -> None:
        n_bad, first = counts or (int(state.nonfinite), int(state.first_nonfinite))
        where = f"last finite checkpoint: step {saved}" if saved else "no checkpoint was saved"
        nonfinite.check(policy, n_bad, first, max_skips, f"{where} in {ckpt.directory}")

    if total == start and latest is None and evaluator:  # a 0-step stage: evaluate its start
        exported = method.export(model_params(), state.extra)
        log.writer.write(total, "eval", evaluator(exported.params))
        if evaluator.improved(total, first=True):
            exporter.best(exported, total)
    stop = StopRequest()
    try:
        with stop:
            for step in range(start, total):
                batch = shard_batch(next(it), mesh)
                state, m = step_fn(state, batch)
                log.step(m)
                done = step + 1
                counts = None
                if done % log_every == 0 or done == total:
                    rec, n_bad = log.train(done)
                    counts = (n_bad, int(state.first_nonfinite) if n_bad else -1)
                    health(done, counts)
                    log.events(state.extra)
                    if stopped():
                        total = done  # ends the stage here: final checkpoint, model, summary
                    log.bar_text(f"loss {rec['loss']:.5f}{evaluator.psnr()}")
                if evaluator.due(done, total):
                    if counts is None:
                        health(done)
                    exported = method.export(model_params(), state.extra)
                    sample: dict = {}
                    result = evaluator(exported.params, sample)
                    log.eval(done, result, exported.params, sample, scale)
                    if evaluator.improved(done):
                        exporter.best(exported, done)
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
                    meta = {
                        "best": evaluator.best,
                        "method": method.name,
                        "last_eval": evaluator.last,
                    }
                    if ckpt.save(
                        done, state, it.get_state(), meta, force=done == total or interrupted
                    ):
                        saved = done
                log.tick()
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
        log.close()
    health(total)
    summary = {
        "steps": total,
        "first_step": first_step,
        "resumed_from": latest,
        "wall_s": time.perf_counter() - t_start,
        "best": evaluator.best,
        "final_eval": evaluator.last,
        "devices": n_dev,
        "processes": jax.process_count(),
        "nonfinite_skipped": int(state.nonfinite),
        "first_nonfinite": int(state.first_nonfinite),
        "events": {k: int(v) for k, v in jax.device_get(method.events(state.extra)).items()},
    }
    exported = method.export(model_params(), state.extra)  # every process: may compute on device
    exporter.final(exported, summary)
    log.done(summary, evaluator.best, evaluator.select)
    # no process goes on (a stage report, the next stage) before process 0 wrote the results
    distributed.barrier(f"fit done {workdir}")
    return summary


def _finite_state(state: TrainState) -> bool:
    return not model_dir.nonfinite_leaves((state.params, state.ema_params))
