"""Reports and tables from results on disk (one CLI; the runner writes each results folder's
own report, `python -m jaxsr.experiment --report` rewrites it):

    python -m jaxsr.report --results_md [--check] [--file=RESULTS.md]  # marked sections
    python -m jaxsr.report --runs=OUT --names=RUN,RUN [--m=32]   # pruned runs (tables.rows)
    python -m jaxsr.report --ratio=MODEL_DIR       # kept / dense MACs of its masked convs
    python -m jaxsr.report --adaptive=EVAL_JSON    # `jaxsr.evaluate --beta` of an ensemble
    python -m jaxsr.report --evals=A.json,B.json   # `jaxsr.evaluate --json` files, per set

Exactly one of the five; exit codes as every jaxsr CLI (`jaxsr.cli`); `--check` exits 1
when RESULTS.md is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

from absl import flags

from jaxsr import cli
from jaxsr.experiment import results_md, tables

_RESULTS_MD = flags.DEFINE_bool("results_md", False, "regenerate RESULTS.md's marked sections")
_CHECK = flags.DEFINE_bool("check", False, "with --results_md: exit 1 if stale, write nothing")
_FILE = flags.DEFINE_string("file", str(results_md.DEFAULT), "with --results_md: the file")
_RUNS = flags.DEFINE_string("runs", None, "experiment directory of the runs (with --names)")
_NAMES = flags.DEFINE_list("names", [], "with --runs: the run names")
_M = flags.DEFINE_integer("m", 32, "with --runs: the M of N:M (per-layer N)")
_RATIO = flags.DEFINE_string("ratio", None, "model dir: kept / dense MACs of its masked convs")
_ADAPTIVE = flags.DEFINE_string("adaptive", None, "`jaxsr.evaluate --beta` JSON of an ensemble")
_EVALS = flags.DEFINE_list("evals", [], "`jaxsr.evaluate --json` result files")

MODES = ("results_md", "runs", "ratio", "adaptive", "evals")


def main() -> None:
    with cli.checking():
        given = [m for m in MODES if flags.FLAGS[m].value]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join('--' + m for m in MODES)}"
                + (f" (got {', '.join('--' + m for m in given)})" if given else "")
            )
        if _RUNS.value and not _NAMES.value:
            raise ValueError("--runs needs --names=RUN[,RUN...]")
        if _RESULTS_MD.value:
            try:
                changed = results_md.update(Path(_FILE.value), _CHECK.value)
            except results_md.Stale as e:
                cli.fail(str(e), code=cli.EXIT_ERROR)
            if changed:
                print(f"updated {_FILE.value}")
        elif _RUNS.value:
            print(tables.markdown(tables.rows(Path(_RUNS.value), _NAMES.value, _M.value)), end="")
        elif _RATIO.value:
            print(f"{tables.masked_macs_ratio(Path(_RATIO.value)):.6f}")
        elif _ADAPTIVE.value:
            print(tables.adaptive_markdown(json.loads(Path(_ADAPTIVE.value).read_text())), end="")
        else:
            print(tables.evals_markdown(_EVALS.value), end="")


def run() -> None:
    cli.main(main)


if __name__ == "__main__":
    run()
