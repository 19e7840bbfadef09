"""Training checkpoints with Orbax: periodic async saves, latest-N plus named steps, resume.

`Checkpointer(workdir/"checkpoints", every, keep, keep_steps)` wraps an
`ocp.CheckpointManager` whose save policy is "every `every` steps or one of `keep_steps`" and
whose preservation policy is "the latest `keep`, and every step in `keep_steps`" (so rewind
points survive rotation — `max_to_keep` alone would delete them). Each checkpoint holds the
TrainState (`state`), the data iterator state (`data`, JSON) and free-form JSON (`meta`).
Orbax writes a step under a temporary name and renames it when complete, so a step killed
half-way is never listed or restored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp
from orbax.checkpoint.checkpoint_managers import save_decision_policy as sdp


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
        options = ocp.CheckpointManagerOptions(
            save_decision_policy=sdp.AnySavePolicy(save),
            preservation_policy=pp.AnyPreservationPolicy(keep_policies),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "data", "meta")
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
        return out["state"], out["data"], out["meta"]

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
