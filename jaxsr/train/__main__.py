"""Train an SR model: `python -m jaxsr.train --config=configs/dense.py --workdir=DIR`.

Runs the recipe of `config.method` (its stages, `jaxsr.train.stages`). Config overrides:
`--config.train.steps=1000`; variants: `--config=configs/nm_oneshot.py:model=rfdn,demo`.
`--check` validates the config and workdir without training and prints the method and the
recipe's stages (`{"method": ..., "stages": [{"name", "steps"}, ...]}`). A run restarted with
the same `--workdir` resumes from its latest checkpoint. Errors are one line on stderr; exit
codes as every jaxsr CLI (`jaxsr.cli`): 2 for a bad flag, config key or value, or workdir
(all found before anything is written), 1 for a failure while running (divergence, no
loadable checkpoint, a busy workdir), 130 for Ctrl-C (after a checkpoint of the current
step). Compiled programs go to the persistent cache of `jaxsr.compile_cache`
(`JAXSR_COMPILE_CACHE=0` turns it off).
"""

from __future__ import annotations

import json

from absl import flags
from ml_collections import config_flags

from jaxsr import cli, compile_cache, train
from jaxsr.train import stages

_CONFIG = config_flags.DEFINE_config_file("config", None, "config file (path[:variant])")
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory (checkpoints, logs, models)")
_CHECK = flags.DEFINE_bool(
    "check", False, "only check the config and workdir; print the recipe's stages as JSON"
)


def main() -> None:
    compile_cache.enable()  # a resumed or repeated run loads its compiled step from disk
    with cli.checking():  # config values, recipe and workdir: before anything is written
        try:
            cfg = _CONFIG.value
        except Exception as e:  # the config file raised while loading (syntax, bad variant)
            raise ValueError(f"--config={flags.FLAGS['config'].config_filename}: {e}") from None
        workdir = _WORKDIR.value or cfg.get("workdir")
        if not workdir:
            raise ValueError("--workdir is required (or set config.workdir)")
        checked = stages.check_only(cfg, workdir)
    if _CHECK.value:
        print(json.dumps(checked))
        return
    train.run(cfg, workdir)


def run() -> None:
    """The `jaxsr-train` console script (= `python -m jaxsr.train`)."""
    flags.mark_flag_as_required("config")
    cli.main(
        main,
        config=True,
        stopped="stopped; rerun the same command to resume from the latest checkpoint, if any",
    )


if __name__ == "__main__":
    run()
