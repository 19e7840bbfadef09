"""What a stage leaves behind: `best_model/` (at each evaluation that improves
`eval.select`), `final_model/` and `summary.json`. Written by process 0 only; the model
directories are `jaxsr.model_dir`'s (loadable by `jaxsr.evaluate --weights` and `init_from`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax

from jaxsr import files, model_dir, models
from jaxsr.methods.base import Exported


def save_model(cfg: Any, directory: Path, exported: Exported, source: str) -> None:
    """A model directory of `exported` (the method's plain model: params, overrides, masks)."""
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


class Exporter:
    """The stage's model directories and summary, in `workdir`; a no-op off process 0."""

    def __init__(self, cfg: Any, workdir: Path, lead: bool):
        self.cfg, self.workdir, self.lead = cfg, workdir, lead

    def best(self, exported: Exported, step: int) -> None:
        if self.lead:
            source = f"{self.workdir} step {step}"
            save_model(self.cfg, self.workdir / "best_model", exported, source)

    def final(self, exported: Exported, summary: dict) -> None:
        if self.lead:
            save_model(self.cfg, self.workdir / "final_model", exported, str(self.workdir))
            text = json.dumps(summary, indent=2) + "\n"
            files.write_text_atomic(self.workdir / "summary.json", text)
