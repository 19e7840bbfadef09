"""Run an experiment: `python -m jaxsr.experiment --spec=experiments/NAME.py[:variant]`.

Trains what is not finished (a killed call resumes where it stopped; Ctrl-C/SIGTERM is passed
on to the running trainer, which saves a checkpoint), evaluates, and writes
the results folder (`--out`, default `results/<spec name>`): `runs/<run>.json`,
`results.csv`, `results.json`, `report.md` (tables, mean ± std over seeds) and plots.
`--only=a,b` does just those runs now; `--report` only rewrites the folder from the
records present. Training workdirs go to `--workdirs` (default `workdirs/<spec name>`).
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from jaxsr import cli, compile_cache, workdir_lock
from jaxsr.experiment import report, runner
from jaxsr.experiment.spec import load_spec

_SPEC = flags.DEFINE_string("spec", None, "spec file (path[:variant])", required=True)
_OUT = flags.DEFINE_string("out", None, "results folder (default results/<spec name>)")
_WORKDIRS = flags.DEFINE_string("workdirs", None, "training workdirs (default workdirs/<name>)")
_ONLY = flags.DEFINE_list("only", [], "run names to do now (default: all unfinished)")
_REPORT = flags.DEFINE_bool("report", False, "only rewrite the results folder from its records")


def main() -> None:
    with cli.checking():  # the spec, its records and runs: before anything trains
        spec = load_spec(_SPEC.value, runner.REPO)
        out = Path(_OUT.value or spec.out or f"results/{spec.name}").absolute()
        work = Path(_WORKDIRS.value or f"workdirs/{spec.name}").absolute()
        if _REPORT.value:
            records = runner.load_records(out, spec)
            if not records:
                raise FileNotFoundError(f"{out}/runs: no records of spec {spec.name}")
    with workdir_lock.hold(out, "results folder"):  # one runner (or report) per folder
        if not _REPORT.value:
            with cli.checking():
                todo = runner.prepare(spec, out, work, _ONLY.value)
            compile_cache.enable()
            records = runner.run_experiment(spec, out, work, _ONLY.value, todo=todo)
        path = report.write(out, spec, records)
    plain = [r for r in records if "adaptive" not in r]
    if plain:
        print(f"\n{spec.name}: Y-PSNR / SSIM, mean ± std over seeds\n")
        print(report.table(plain, list(spec.sets), "y"))
    for r in records:
        if "adaptive" in r:
            print(f"\n{spec.name}, {r['name']}:\n")
            print(report.adaptive_table(r["adaptive"], list(spec.sets)))
    print(f"\nwrote {path} ({len(records)} records; plots and CSV beside it)")


def run() -> None:
    """The `jaxsr-experiment` console script (= `python -m jaxsr.experiment`)."""
    cli.main(main, stopped="stopped; rerun the same command to resume")


if __name__ == "__main__":
    run()
