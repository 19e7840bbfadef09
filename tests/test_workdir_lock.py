"""One writer per workdir / results folder (`jaxsr.workdir_lock`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from jaxsr import train, workdir_lock

from .conftest import REPO, tiny_config

HOLD = "import sys, time\nfrom jaxsr import workdir_lock\nwith workdir_lock.hold(sys.argv[1]):\n"
HOLD += "    print('held', flush=True)\n    time.sleep(600)\n"


def test_a_held_workdir_refuses_the_second_trainer_before_it_writes(data_dir, tmp_path):
    work = tmp_path / "w"
    with workdir_lock.hold(work):
        with pytest.raises(
            workdir_lock.Busy,
            match=rf"workdir={re.escape(str(work))}: in use by pid {os.getpid()} on ",
        ):
            train.run(tiny_config("tiny", None, data_dir), work, quiet=True)
        assert sorted(p.name for p in work.iterdir()) == [workdir_lock.LOCK]  # nothing else
        # the CLI: one line, exit 1, the holder's command named
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "jaxsr.train",
                f"--config={REPO / 'tests/configs/tiny.py'}",
                f"--workdir={work}",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and lines[-1].startswith(f"error: workdir={work}: in use by pid")
        assert "one run per workdir" in lines[-1] and "Traceback" not in r.stderr
        assert sorted(p.name for p in work.iterdir()) == [workdir_lock.LOCK]
    # released on exit, also when the block raised
    with pytest.raises(KeyError), workdir_lock.hold(work):
        raise KeyError
    with workdir_lock.hold(work) as previous:
        assert previous is not None and f"pid {os.getpid()}" in previous


def test_a_killed_holder_frees_the_lock_and_is_named(tmp_path):
    d = tmp_path / "res"
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(d)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert p.stdout.readline().strip() == "held"
        lock = workdir_lock.hold(d, "results folder")
        with pytest.raises(workdir_lock.Busy, match=rf"in use by pid {p.pid} on .*-c"), lock:
            pass
        # the experiment runner takes its results folder's lock before anything else
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "jaxsr.experiment",
                "--spec=experiments/dupru_small.py:demo",
                f"--out={d}",
                f"--workdirs={tmp_path / 'work'}",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 1 and last.startswith(f"error: results folder={d}: in use by pid")
        assert not (tmp_path / "work").exists() and not (d / "runs").exists()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    with workdir_lock.hold(d) as previous:  # the kernel released it with the process
        assert f"pid {p.pid}" in previous and "no longer running" in previous
        info = json.loads((d / workdir_lock.LOCK).read_text())
        assert info["pid"] == os.getpid() and time.strftime("%Y-%m-%d") in info["started"]
