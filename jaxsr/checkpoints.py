"""Training checkpoints with Orbax: periodic async saves, latest-N plus named steps, resume.

`Checkpointer(workdir/"checkpoints", every, keep, keep_steps)` wraps an
`ocp.CheckpointManager` whose save policy is "every `every` steps or one of `keep_steps`" and
whose preservation policy is "the latest `keep`, and every step in `keep_steps`" (so rewind
points survive rotation — `max_to_keep` alone would delete them). Each checkpoint holds the
TrainState (`state`), the data iterator state (`data`, JSON) and free-form JSON (`meta`).
Orbax writes a step under a temporary name and renames it when complete, so a step killed
half-way is never listed or restored; leftover temporary directories are removed on start.

`restore_latest` falls back: a checkpoint that fails to load (truncated or missing files,
bad metadata, non-finite params) is skipped and the next older one is tried; once one loads,
the newer failures are reported in one line each and moved aside to
`<directory>.unreadable/<step>` (never deleted). When none loads, nothing is moved and
`CheckpointError` lists every step tried. A checkpoint that is intact but does not match the
config's train state is a one-line error, not a fallback.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp
from orbax.checkpoint.checkpoint_managers import save_decision_policy as sdp

from jaxsr.distributed import any_process


class CheckpointError(RuntimeError):
    """No checkpoint of a run could be restored."""


def _is_mismatch(e: BaseException) -> bool:
    """An Orbax error saying the saved tree differs from the requested one (not damage)."""
    while e is not None:
        if "tree structures do not match" in str(e) or "Missing keys" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def one_line(e: BaseException, limit: int = 200) -> str:
    """`Type: first line of the message` of the root cause, shortened (for one-line reports of
    errors raised deep inside Orbax/TensorStore, whose outer messages dump specs)."""
    seen = set()
    while (e.__cause__ or e.__context__) is not None and id(e) not in seen:
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    msg = f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


class Checkpointer:
    def __init__(
        self,
        directory: str | os.PathLike,
        every: int,
        keep: int = 3,
        keep_steps: tuple[int, ...] = (),
        async_save: bool = True,
    ) -> None:
        self.directory = Path(directory).absolute()
        save = [sdp.FixedIntervalPolicy(max(int(every), 1))]
        keep_policies: list[Any] = [pp.LatestN(n=max(int(keep), 1))]
        if keep_steps:
            save.append(sdp.SpecificStepsPolicy(steps=tuple(int(s) for s in keep_steps)))
            keep_policies.append(pp.CustomSteps(steps=[int(s) for s in keep_steps]))
        self._options = ocp.CheckpointManagerOptions(
            save_decision_policy=sdp.AnySavePolicy(save),
            preservation_policy=pp.AnyPreservationPolicy(keep_policies),
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,
            create=True,
        )
        self.manager = self._open()

    def _open(self) -> ocp.CheckpointManager:
        return ocp.CheckpointManager(
            self.directory, options=self._options, item_names=("state", "data", "meta")
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, data: dict, meta: dict, force: bool = False) -> bool:
        """Save if the policy says so (or `force`); returns whether a save started."""
        return self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=ocp.args.JsonSave(data),
                meta=ocp.args.JsonSave(meta),
            ),
            force=force,
        )

    def should_save(self, step: int) -> bool:
        return self.manager.should_save(step)

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict, dict]:
        """(state, data iterator state, meta) of `step`; `abstract_state` gives types/shardings."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                data=ocp.args.JsonRestore(),
                meta=ocp.args.JsonRestore(),
            ),
        )
        if out["data"] is None or out["meta"] is None:
            raise ValueError("data or meta item missing")
        return out["state"], out["data"], out["meta"]

    def restore_latest(
        self,
        abstract_state: Any,
        report: Callable[[str], None] = print,
        check: Callable[[Any], str | None] | None = None,
    ) -> tuple[int, Any, dict, dict] | None:
        """Restore the newest loadable checkpoint: (step, state, data, meta), or None if none
        exists. `check(state)` may return a reason to reject a state that loaded (NaN params).

        Newer checkpoints that fail are moved aside (and reported) only once an older one has
        loaded; if none loads, nothing is moved and `CheckpointError` lists every step tried.
        A checkpoint whose tree does not match `abstract_state` (the config changed: EMA,
        clipping, method) is not damage: that raises `CheckpointError` at once, moving nothing.
        In a multi-process run the processes agree on every outcome before acting on it."""

        failed: list[tuple[int, str]] = []
        for step in sorted(self.all_steps(), reverse=True):
            try:
                state, data, meta = self.restore(step, abstract_state)
                reason = check(state) if check else None
            except Exception as e:  # Orbax/tensorstore raise many types for damaged files
                reason = one_line(e)
                if _is_mismatch(e):
                    raise CheckpointError(
                        f"{self.directory}/{step}: does not match this config's train state "
                        f"({reason}); was optim.ema_decay, optim.clip_norm or the method "
                        "changed? Use the original config or a new --workdir"
                    ) from None
            if not any_process(reason is not None):
                for bad, why in failed:
                    dest = self._move_aside(bad)
                    report(f"warning: checkpoint step {bad} does not load ({why}); moved to {dest}")
                return step, state, data, meta
            failed.append((step, reason or "failed on another process"))
        if failed:
            tried = "; ".join(f"step {s} ({why})" for s, why in failed)
            raise CheckpointError(
                f"{self.directory}: no checkpoint loads; tried {tried}; nothing was moved: "
                "delete or move them to start this workdir from scratch"
            )
        return None

    def _move_aside(self, step: int) -> Path:
        src = self.directory / str(step)
        dest = self.directory.with_name(self.directory.name + ".unreadable") / str(step)
        if jax.process_index() == 0 and src.exists():
            if dest.exists():
                dest = dest.with_name(f"{step}-{int(time.time())}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), str(dest))
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jaxsr_move_aside_{step}")
        self.manager.close()
        self.manager = self._open()
        return dest

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
