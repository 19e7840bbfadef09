"""Train an SR model: `python -m jaxsr.train --config=configs/dense.py --workdir=DIR`.

Config overrides: `--config.train.steps=1000`; variants: `--config=configs/dense.py:demo`.
A run restarted with the same `--workdir` resumes from its latest checkpoint.
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "config file (path[:variant])")
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory (checkpoints, logs, models)")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from jaxsr import trainer
    from jaxsr.cli import quiet_logs
    from jaxsr.configs_lib import resolve_method

    quiet_logs()
    cfg = _CONFIG.value
    workdir = _WORKDIR.value or cfg.get("workdir")
    if not workdir:
        raise app.UsageError("--workdir is required (or set config.workdir)")
    try:
        if cfg.get("method", "dense") in ("upru", "dupru"):
            from jaxsr.pruning import iterative

            iterative.run(cfg, workdir)
        else:
            trainer.train(cfg, workdir, resolve_method(cfg))
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    flags.mark_flag_as_required("config")
    app.run(main)
