"""The experiment runner: spec checks, records, tables (mean ± sample std), Pareto front,
RESULTS.md generation, and one end-to-end run of a tiny spec (resume, skip, stale records)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxsr.experiment import Run, Spec, load_spec, record, report, results_md
from jaxsr.experiment.plots import pareto_front
from jaxsr.experiment.spec import FromRun

from .conftest import REPO


def _rec(group, seed, psnr, gmacs=1.0, budget=""):
    ev = {"Set5": {"psnr_rgb": psnr - 2, "ssim_rgb": 0.8, "psnr_y": psnr, "ssim_y": 0.9}}
    return {
        "name": f"{group}_s{seed}",
        "run": {"group": group, "budget": budget, "seed": seed},
        "steps": 10,
        "sparsity_convs": 0.25,
        "nonzero_params": 1000,
        "gmacs": gmacs,
        "eval": ev,
    }


def test_spec_checks_are_one_line_errors(tmp_path):
    runs = [Run("a", "c.py", 0), Run("a", "c.py", 0)]
    with pytest.raises(ValueError, match=r"run names \['a_s0'\] repeat"):
        Spec("x", runs, str(tmp_path)).check()
    with pytest.raises(ValueError, match="metric 'psnr'"):
        Spec("x", runs[:1], str(tmp_path), metric="psnr").check()
    with pytest.raises(ValueError, match="unknown plots"):
        Spec("x", runs[:1], str(tmp_path), plots=("bars",)).check()
    late = [Run("a", "c.py", 0, {"x": FromRun("b_s0", str, "x")}), Run("b", "c.py", 0)]
    with pytest.raises(ValueError, match="takes a value from 'b_s0', which is not a run listed"):
        Spec("x", late, str(tmp_path)).check()
    with pytest.raises(ValueError, match="spec name"):
        Spec("a b", runs[:1], str(tmp_path)).check()
    bad = tmp_path / "bad.py"
    bad.write_text("def get_spec(arg=None):\n    return 3\n")
    with pytest.raises(ValueError, match="returned int, not a Spec"):
        load_spec(str(bad), REPO)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_spec(str(tmp_path / "none.py"), REPO)
    (tmp_path / "syntax.py").write_text("def get_spec(:\n")
    with pytest.raises(ValueError, match="SyntaxError"):
        load_spec(str(tmp_path / "syntax.py"), REPO)


def test_run_flags_are_command_line_text():
    over = {"a.b": 3e-4, "c": (1, 2), "d": True, "e": ("Set5",)}
    r = Run("DUPru 1/4", "configs/dupru.py:small", 2, over)
    assert r.run_name == "DUPru-1-4_s2"
    assert r.flags() == [
        "--config=configs/dupru.py:small",
        "--config.seed=2",
        "--config.a.b=0.0003",
        "--config.c=(1,2)",
        "--config.d=True",
        "--config.e=('Set5',)",
    ]


def test_mean_std_and_table_by_hand():
    recs = [_rec("dense", 0, 30.0), _rec("dense", 1, 30.2), _rec("dense", 2, 30.4)]
    recs += [_rec("UPru", 0, 29.9, 0.9)]
    m, s = report.mean_std([30.0, 30.2, 30.4])
    assert m == pytest.approx(30.2) and s == pytest.approx(0.2)  # sample std: ddof 1
    assert report.mean_std([1.0]) == (1.0, None)
    t = report.table(recs, ["Set5"], "y").splitlines()
    assert (
        t[2]
        == "| dense |  | 3 | 10 | - / 25.00 % | 1,000 | 1.00 | 30.200 ± 0.200 / 0.9000 ± 0.0000 |"
    )
    assert t[3] == "| UPru |  | 1 | 10 | - / 25.00 % | 1,000 | 0.90 | 29.900 / 0.9000 |"
    assert "28.200 ± 0.200" in report.table(recs, ["Set5"], "rgb")


def test_paired_differences_by_hand():
    recs = [_rec("dense", 0, 30.0), _rec("dense", 1, 30.2), _rec("UPru", 0, 29.9)]
    recs += [_rec("UPru", 1, 30.0), _rec("UPru", 2, 31.0)]  # seed 2 has no dense partner
    t = report.paired_table(recs, ["Set5"], "psnr_y").splitlines()
    assert t[0] == "psnr_y differences at equal budgets, paired by seed:"
    assert t[-1] == "| UPru − dense | 2 | -0.150 ± 0.071 |"  # diffs -0.1, -0.2
    # only groups with the same budget label are compared
    recs = [_rec("a", 0, 30.0, budget="1/4"), _rec("b", 0, 29.0, budget="1/4")]
    recs += [_rec("a", 0, 28.0, budget="1/8")]
    t = report.paired_table(recs, ["Set5"], "psnr_y").splitlines()
    assert t[4:] == ["| b 1/4 − a 1/4 | 1 | -1.000 |"]
    assert report.paired_table(recs[1:], ["Set5"], "psnr_y") == ""


def test_pareto_front_by_hand():
    pts = [(1.0, 30.0), (2.0, 31.0), (2.0, 30.5), (3.0, 30.9), (0.5, 29.0)]
    assert pareto_front(pts) == [4, 0, 1]


def test_curves_continue_over_stages(tmp_path):
    for name, first, end, steps in (("round_01", 0, 20, (10, 20)), ("round_02", 5, 25, (15, 25))):
        d = tmp_path / name
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"first_step": first, "steps": end}))
        lines = [{"step": s, "kind": "train", "loss": s / 100} for s in steps]
        lines.append({"step": steps[-1], "kind": "eval", "Set5/psnr_y": 30.0})
        (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    c = record.curves(tmp_path, ["round_01", "round_02"])
    assert c["step"] == [10, 20, 30, 40] and c["steps"] == 40  # round 2: steps 5..25 -> 20..40
    assert c["loss"] == [0.1, 0.2, 0.15, 0.25] and c["eval_step"] == [20, 40]
    summ = json.loads((tmp_path / "round_02" / "summary.json").read_text())
    summ["events"] = {"budget_met": 17, "converged": -1}  # -1: did not happen
    (tmp_path / "round_02" / "summary.json").write_text(json.dumps(summ))
    ev = record.events(tmp_path, ["round_01", "round_02"])
    assert ev == {"round_02/budget_met": 17}
    assert report.event_lines([{"name": "r", "events": ev}, {"name": "q"}]) == [
        "- r: round_02/budget_met at step 17"
    ]
    one = {"name": "s", "events": {"budget_met": 250}, "steps": 1000}  # a one-stage search
    assert report.event_lines([one]) == ["- s: budget_met at step 250 (25 % of 1000)"]


def test_results_md_replaces_marked_sections(tmp_path):
    folder = tmp_path / "results" / "x"
    folder.mkdir(parents=True)
    (folder / "report.md").write_text("table\n\n![plot](pareto.png)\n\nRecords: `runs/*.json`.\n")
    md = tmp_path / "RESULTS.md"
    md.write_text("# R\n\n<!-- begin results/x -->\nold text\n<!-- end results/x -->\n\nafter\n")
    with pytest.raises(results_md.Stale, match="is stale"):
        results_md.update(md, check=True)
    assert "old text" in md.read_text()  # --check writes nothing
    assert results_md.update(md) is True
    text = md.read_text()
    assert "old text" not in text and "![plot](results/x/pareto.png)" in text
    assert "`results/x/runs/*.json`" in text and text.endswith("<!-- end results/x -->\n\nafter\n")
    assert results_md.update(md, check=True) is False and results_md.update(md) is False
    # a folder with a report but no (or two) sections: refused, e.g. a mangled RESULTS.md
    md.write_text("# R\n\nafter\n")
    for check in (True, False):
        with pytest.raises(results_md.Stale, match="no single .* section for results/x"):
            results_md.update(md, check)
    md.write_text("<!-- begin results/x -->\n<!-- end results/x -->\n" * 2)
    assert results_md.unplaced(md.read_text(), tmp_path) == ["results/x"]
    md.write_text("<!-- begin results/x -->\nno end\n")
    with pytest.raises(ValueError, match="has no '<!-- end results/x -->'"):
        results_md.update(md)


def test_evals_table_rows_per_set_and_bad_files(tmp_path):
    from jaxsr.experiment.tables import evals_markdown

    res = {"model": "rfdn", "scale": 4, "sets": {}}
    res["sets"]["Set5"] = dict(num_images=5, psnr_rgb=30.1, ssim_rgb=0.85, psnr_y=32.0, ssim_y=0.9)
    (tmp_path / "a.json").write_text(json.dumps(res))
    rows = evals_markdown([str(tmp_path / "a.json")]).splitlines()
    assert rows[2] == "| rfdn | x4 | Set5 | 5 | 30.100 | 0.8500 | 32.000 | 0.9000 |"
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(ValueError, match="b.json: not a jaxsr.evaluate --json result"):
        evals_markdown([str(tmp_path / "b.json")])


def test_results_md_of_the_repository_is_up_to_date():
    """RESULTS.md's generated sections equal their results folders' report.md."""
    assert results_md.update(REPO / "RESULTS.md", check=True) is False


SPEC = """
from jaxsr.configs_lib import SAMPLES
import json
import re
from jaxsr.experiment import Run, Spec
from jaxsr.experiment.spec import FromRun

def lr_of(workdir):  # 1e-4 per step of the source run (a value only its result gives)
    return json.loads((workdir / "summary.json").read_text())["steps"] * 1e-4

def get_spec(arg=None):
    common = {{"data.data_dir": {data!r}, "train.steps": {steps}, "train.log_every": 2,
               "eval.every": 4}}
    runs = [Run("dense", {cfg!r}, s, common) for s in (0, 1)]
    runs.append(Run("UPru", {prune!r}, 0, {{**common, "pruning.rounds": 2,
                                              "pruning.percent": 50.0, "train.steps": 4}}))
    runs.append(Run("lr", {cfg!r}, 0, {{**common, "optim.lr": FromRun("dense_s1", lr_of, "lr")}}))
    return Spec("tiny", runs, str(SAMPLES), sets=("Demo",), baselines={{"bicubic": "bicubic"}})
"""


def _experiment(spec, out, work, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsr.experiment",
            f"--spec={spec}",
            f"--out={out}",
            f"--workdirs={work}",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


@pytest.mark.slow
def test_tiny_experiment_end_to_end(data_dir, tmp_path):
    spec = tmp_path / "tiny.py"
    cfg, prune = str(REPO / "tests/configs/tiny.py"), str(REPO / "tests/configs/tiny_prune.py:upru")
    spec.write_text(SPEC.format(data=str(data_dir), steps=8, cfg=cfg, prune=prune))
    out, work = tmp_path / "out", tmp_path / "work"
    r = _experiment(spec, out, work, "--only=dense_s0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "0 run(s) recorded, 4 to do" in r.stdout
    assert [p.name for p in sorted((out / "runs").glob("*.json"))] == [
        "bicubic.json",
        "dense_s0.json",
    ]
    r = _experiment(spec, out, work)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 run(s) recorded, 3 to do" in r.stdout
    recs = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    assert set(recs) == {"dense_s0", "dense_s1", "UPru_s0", "lr_s0", "bicubic"}
    # a value from another run's result, computed once that run finished
    assert recs["lr_s0"]["run"]["overrides"]["optim.lr"] == "<from dense_s1: lr>"
    assert recs["lr_s0"]["overrides"]["optim.lr"] == str(8 * 1e-4)
    assert "--config.optim.lr=0.0008" in recs["lr_s0"]["command"]
    d0, d1, up = recs["dense_s0"], recs["dense_s1"], recs["UPru_s0"]
    assert d0["steps"] == d1["steps"] == up["steps"] == 8
    assert (
        d0["command"].startswith("python -m jaxsr.train --config=")
        and "--config.seed=0" in d0["command"]
    )
    assert d0["eval"]["Demo"]["psnr_y"] != d1["eval"]["Demo"]["psnr_y"]  # seeds differ
    assert up["stages"] == ["round_01", "round_02"] and up["curves"]["step"][-1] == 8
    assert abs(up["sparsity_masked"] - 0.5) < 0.01 and d0["sparsity_convs"] == 0.0
    # the record's numbers are those of the model it names
    from jaxsr import complexity

    rep = complexity.pruned_report(work / "UPru_s0" / "round_02" / "final_model")
    assert (
        up["gmacs"] == pytest.approx(rep.macs / 1e9) and up["nonzero_params"] == rep.nonzero_params
    )
    # the table: mean and sample std over the two dense seeds
    ys = [d0["eval"]["Demo"]["psnr_y"], d1["eval"]["Demo"]["psnr_y"]]
    cell = f"{np.mean(ys):.3f} ± {np.std(ys, ddof=1):.3f}"
    assert cell in (out / "report.md").read_text() and cell in r.stdout
    for f in ("results.csv", "results.json", "pareto.png", "sparsity.png", "curves.png"):
        assert (out / f).stat().st_size > 0, f
    assert len((out / "results.csv").read_text().splitlines()) == 6
    # a rerun does nothing; a changed run is refused, naming its record
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    r = _experiment(spec, out, work)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "4 run(s) recorded, 0 to do" in r.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == before
    spec.write_text(SPEC.format(data=str(data_dir), steps=6, cfg=cfg, prune=prune))
    for extra in ((), ("--report",)):  # --report checks the settings as a run does
        r = _experiment(spec, out, work, *extra)
        assert r.returncode == 2  # bad input: found before anything trains
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {out}/runs/dense_s0.json: recorded"), (extra, last)


def test_a_damaged_record_is_one_line_naming_it(tmp_path):
    from jaxsr.experiment import runner

    good = {
        "format": 1,
        "name": "r",
        "run": {},
        "eval": {},
        **{k: 0 for k in record.RUN_KEYS},
    }
    cases = [
        ('{"format": 1, "name": ', "damaged record, not JSON (Expecting value, line 1)"),
        ("[1, 2]", "damaged record, a JSON list, not an object"),
        (json.dumps({k: v for k, v in good.items() if k != "eval"}), "no 'eval'"),
        (json.dumps({**good, "run": [1]}), "'run' is not an object"),
        (json.dumps({**good, "name": "other"}), "record of run 'other', not 'r'"),
    ]
    (tmp_path / "runs").mkdir()
    path = tmp_path / "runs" / "r.json"
    for text, msg in cases:
        path.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{path}: ") + ".*" + re.escape(msg)):
            record.load(path)
        with pytest.raises(ValueError, match=re.escape(msg)):  # --report reads them so
            runner.load_records(tmp_path)
    path.write_text(json.dumps(good))
    assert runner.load_records(tmp_path) == [good]
    path.write_text(json.dumps({"format": 1, "name": "r", "run": {}, "eval": {}, "baseline": 1}))
    assert record.load(path)["baseline"] == 1  # a baseline needs no training keys


def test_bad_run_is_refused_before_any_training(tmp_path):
    spec = tmp_path / "bad.py"
    spec.write_text(
        textwrap.dedent(
            f"""
            from jaxsr.experiment import Run, Spec
            def get_spec(arg=None):
                runs = [Run("a", {str(REPO / "tests/configs/tiny.py")!r}, 0, {{}}),
                        Run("b", {str(REPO / "tests/configs/tiny.py")!r}, 0,
                            {{"method": "nope"}})]
                return Spec("bad", runs, {str(tmp_path)!r}, sets=("Demo",))
            """
        )
    )
    r = _experiment(spec, tmp_path / "out", tmp_path / "work")
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: run b_s0:") and "nope" in last
    assert not (tmp_path / "work").exists()  # nothing trained, nothing written there


@pytest.mark.parametrize(
    "spec",
    [
        "experiments/dupru_small.py",
        "experiments/dupru_small.py:demo",
        "experiments/prune_rfdn.py",
        "experiments/sls_rfdn.py",
        "experiments/structured.py",
        "experiments/structured.py:demo",
        "experiments/nm_rfdn.py",
        "experiments/l1_rfdn.py",
        "experiments/adaptive_rfdn.py",
    ],
)
def test_repository_specs_load_and_name_existing_configs(spec):
    s = load_spec(spec, REPO)
    for run in s.runs:
        assert (REPO / run.config.split(":")[0]).is_file(), run.config
    assert s.description.strip()


ADAPTIVE_CFG = """
from jaxsr.configs_lib import load_sibling

def get_config(arg=None):
    c = load_sibling({adaptive!r}, "adaptive.py").get_config("demo")
    c.adaptive.candidates = ({cand!r}, "bicubic")
    c.adaptive.pretrain_steps = 0
    c.adaptive.core, c.adaptive.context, c.adaptive.blend = 8, 4, 2
    c.model.scale = 2
    c.model.overrides = {{"num_candidates": 2, "features": 4}}
    c.data.hr_patch, c.data.batch_size = 32, 4
    c.train.steps, c.train.log_every, c.ckpt.every = 6, 2, 1000
    c.optim.milestones = ()
    return c
"""

ADAPTIVE_SPEC = """
from jaxsr.configs_lib import SAMPLES
from jaxsr.experiment import Run, Spec

def get_spec(arg=None):
    run = Run("adaptive", {cfg!r}, 0, {{"data.data_dir": {data!r}}}, name="est")
    return Spec("ada", [run], str(SAMPLES), sets=("Demo",), betas=(0, 1000))
"""


@pytest.mark.slow
def test_adaptive_experiment_evaluates_every_beta_and_candidate_alone(data_dir, tmp_path):
    from jaxsr import model_dir, models

    over = {"num_feat": 8, "num_block": 1}
    cand = tmp_path / "edsr" / "final_model"
    model_dir.save_model(
        cand,
        models.init_params(models.create("edsr_baseline", 2, **over), 0),
        "edsr_baseline",
        2,
        over,
    )
    cfg = tmp_path / "est_cfg.py"
    cfg.write_text(ADAPTIVE_CFG.format(adaptive=str(REPO / "configs/x.py"), cand=str(cand)))
    spec = tmp_path / "ada.py"
    spec.write_text(ADAPTIVE_SPEC.format(cfg=str(cfg), data=str(data_dir)))
    out, work = tmp_path / "out", tmp_path / "work"
    r = _experiment(spec, out, work)
    assert r.returncode == 0, r.stderr[-3000:]
    rec = json.loads((out / "runs" / "est.json").read_text())
    assert rec["model"] == "adaptive" and rec["steps"] == 6 and rec["eval"] == {}
    runs = rec["adaptive"]["runs"]
    assert [e.get("beta", e.get("alone")) for e in runs] == [0, 1000, str(cand), "bicubic"]
    big, bic = runs[1]["sets"]["Demo"], runs[3]["sets"]["Demo"]
    assert big["share"] == [0.0, 1.0] and big["psnr_y"] == bic["psnr_y"]  # all tiles bicubic
    assert big["gmacs"] > bic["gmacs"]  # + the estimators
    text = (out / "report.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| beta") or " alone |" in ln]
    assert [ln.split(" | ")[0] for ln in rows] == [
        "| beta 0",
        "| beta 1000",
        "| edsr alone",
        "| bicubic alone",
    ]
    assert f"{bic['psnr_y']:.3f} / {bic['ssim_y']:.4f} / {bic['gmacs']:.2f}" in rows[3]
    assert rows[1].endswith("| 0.00 / 1.00 |")
    from jaxsr.experiment.tables import adaptive_markdown  # the CLI's table of an eval JSON

    assert adaptive_markdown(rec["adaptive"]).splitlines()[2:] == rows
    assert (out / "adaptive.png").stat().st_size > 0 and not (out / "pareto.png").exists()
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert (
        len(csv_rows) == 5
        and "Demo/gmacs" in csv_rows[0]
        and "edsr_alone" in r.stdout + "".join(csv_rows)
    )
    with pytest.raises(ValueError, match="beta -1 must be a finite number >= 0"):
        Spec("x", [Run("a", "c.py")], str(tmp_path), betas=(-1,)).check()


def test_eval_agreement_by_hand():
    a = _rec("dense", 0, 30.0)
    a["curves"] = {"eval_step": [5, 10], "eval": [{"Set5/psnr_y": 1.0}, {"Set5/psnr_y": 30.25}]}
    b = _rec("UPru", 0, 29.0)  # evaluated last before its final step: not compared
    b["curves"] = {"eval_step": [5], "eval": [{"Set5/psnr_y": 0.0}]}
    line = report.eval_agreement([a, b, _rec("x", 0, 1.0)])
    assert line.endswith("max |difference| 0.25 over 1 values of 1 runs")
    assert report.eval_agreement([b]) == ""


def test_adaptive_spec_refuses_a_run_that_is_no_estimator_before_training(tmp_path):
    spec = tmp_path / "ada_dense.py"
    spec.write_text(
        "from jaxsr.configs_lib import SAMPLES\n"
        "from jaxsr.experiment import Run, Spec\n"
        "def get_spec(arg=None):\n"
        "    run = Run('dense', 'configs/dense.py:demo', 0, name='d')\n"
        "    return Spec('ada', [run], str(SAMPLES), sets=('Demo',), betas=(0,))\n"
    )
    out, work = tmp_path / "out", tmp_path / "work"
    r = _experiment(spec, out, work)
    assert r.returncode != 0
    assert "run d: config.method='dense' trains sr models; an adaptive spec (betas)" in r.stderr
    assert not (work / "d").exists() and not list((out / "runs").glob("*.json"))


def _trainers_of(work) -> list[int]:
    """Pids of live processes whose command line names `work` (the runner's trainers)."""
    import os
    from pathlib import Path

    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and d.name != str(os.getpid()):
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (d / "stat").read_text().split(")")[-1].split()[0]
            except OSError:
                continue
            if "jaxsr.train" in cmd and str(work) in cmd and state != "Z":
                pids.append(int(d.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the trainer")
def test_signals_to_the_runner_stop_its_trainer_cleanly_and_a_rerun_resumes(data_dir, tmp_path):
    """Ctrl-C in the terminal (SIGINT to the runner's process group) and SIGTERM to the runner
    alone both reach the trainer exactly once: it saves a checkpoint, no trainer is left
    running, no record is written, and the rerun resumes and finishes the run."""
    import os
    import signal
    import time

    from .conftest import complete_lines

    spec = tmp_path / "one.py"
    spec.write_text(
        "from jaxsr.configs_lib import SAMPLES\n"
        "from jaxsr.experiment import Run, Spec\n"
        "def get_spec(arg=None):\n"
        f"    over = {{'data.data_dir': {str(data_dir)!r}, 'train.steps': 400,\n"
        "            'ckpt.every': 1000}\n"
        f"    run = Run('dense', {str(REPO / 'tests/configs/tiny.py')!r}, 0, over)\n"
        "    return Spec('one', [run], str(SAMPLES), sets=('Demo',))\n"
    )
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [sys.executable, "-m", "jaxsr.experiment", f"--spec={spec}", f"--out={out}"]
    cmd.append(f"--workdirs={work}")
    metrics = work / "dense_s0" / "metrics.jsonl"
    stops = []
    for how in ("ctrl-c", "sigterm"):
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's job would be
        )
        start = json.loads(complete_lines(metrics)[-1])["step"] if metrics.exists() else 0
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            lines = complete_lines(metrics) if metrics.exists() else []
            if lines and json.loads(lines[-1])["step"] >= start + 5:
                if how == "ctrl-c":
                    os.killpg(proc.pid, signal.SIGINT)
                else:
                    proc.send_signal(signal.SIGTERM)
                break
            time.sleep(0.01)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        sig = "SIGINT" if how == "ctrl-c" else "SIGTERM"
        assert last.startswith(f"interrupted: run dense_s0: {sig} at step "), last
        at = int(last.split("at step ")[1].split(":")[0])
        assert start + 5 <= at < 400
        ckpt = work / "dense_s0" / "checkpoints" / str(at)
        assert last.endswith(f"checkpoint saved in {ckpt}; rerun the same command to resume")
        assert ckpt.is_dir() and not list(out.glob("runs/*.json"))
        assert _trainers_of(work) == []  # the trainer stopped with the runner
        stops.append(at)
    assert stops[0] < stops[1]  # the second call resumed where the first stopped
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    log = (work / "dense_s0.log").read_text()
    assert f"resumed from {work / 'dense_s0' / 'checkpoints'}/{stops[1]}" in log
    rec = json.loads((out / "runs" / "dense_s0.json").read_text())
    assert rec["steps"] == 400
