"""The CPU threads a run trains with and how they wait (ffviz/runner/threads.py): the plan's rules, and what a launched
process really ran with, read back from its meta.json. These check the settings themselves, not timings: ffviz once
set OMP_WAIT_POLICY=PASSIVE on import and every CLI run lost half its speed (bench/REPORT.md, "threads")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffviz.recipes import recipe_config
from ffviz.runner import threads
from ffviz.runner.launcher import Launcher
from ffviz.runner.manager import RunManager
from ffviz.store.folder import RunFolder

REPO = Path(__file__).resolve().parents[1]


def _idle() -> float:
    return 0.0


def _busy() -> float:
    return 1.7


def test_the_count_comes_from_the_flag_then_the_launcher_then_openmp_then_the_cores():
    env = {"FFVIZ_RUN_THREADS": "3", "OMP_NUM_THREADS": "4"}
    assert (threads.plan(2, env, measure=_idle).threads, threads.plan(2, env, measure=_idle).source) == (2, "--threads")
    assert threads.plan(None, env, measure=_idle).source == "$FFVIZ_RUN_THREADS"
    assert threads.plan(None, {"OMP_NUM_THREADS": "4"}, measure=_idle).threads == 4
    p = threads.plan(None, {"FFVIZ_RUN_THREADS": "zero"}, measure=_idle)
    assert (p.threads, p.source) == (threads.cores(), "cores")


def test_idle_cores_spin_busy_cores_sleep_one_thread_needs_neither():
    assert threads.plan(2, {}, measure=_idle).wait == "spin"
    busy = threads.plan(2, {}, measure=_busy)
    assert busy.wait == "passive" and busy.others_busy_cores == 1.7 and "1.7 cores" in busy.why
    assert threads.plan(1, {}, measure=_busy).wait == "single thread"
    assert threads.plan(2, {}, measure=lambda: None).wait == "spin"  # no /proc/stat: PyTorch's own default


def test_a_users_own_wait_setting_is_kept():
    p = threads.plan(2, {"OMP_WAIT_POLICY": "ACTIVE"}, measure=_busy)
    assert p.wait == "yours" and "OMP_WAIT_POLICY=ACTIVE" in p.why


def test_apply_writes_what_openmp_and_mkl_read_and_sets_passive_only_when_planned():
    env: dict[str, str] = {}
    threads.apply(threads.plan(2, {}, measure=_idle), env)
    assert env == {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}  # spinning is libgomp's default: nothing to set
    threads.apply(threads.plan(2, {}, measure=_busy), env)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.parametrize(("argv", "n"), [(["train", "--threads", "3"], 3), (["train", "--threads=2"], 2),
                                         (["train"], None), (["train", "--threads", "x"], None),
                                         (["train", "--threads", "0"], None)])
def test_the_flag_is_read_before_argparse(argv, n):
    assert threads.requested_threads(argv) == n


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the thread settings the test process itself carries."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "FFVIZ_RUN_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def test_importing_ffviz_sets_no_thread_policy():
    # The root cause of the CLI's lost speed: ffviz's import set OMP_WAIT_POLICY=PASSIVE for every process.
    code = "import os, ffviz, ffviz.cli; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "None"


def _train(tmp_path: Path, *args: str, **env: str) -> dict:
    subprocess.run([sys.executable, "-m", "ffviz", "train", "--recipe", "classroom", "--epochs", "1",
                    "--runs-dir", str(tmp_path), "--no-progress", *args],
                   env=_clean_env(**env), capture_output=True, text=True, check=True, timeout=300)
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return json.loads(RunFolder(run).meta.read_text())["threads"]


@pytest.mark.slow
def test_a_cli_run_plans_its_threads_before_torch_loads_and_records_them(tmp_path):
    info = _train(tmp_path, "--threads", "2")
    assert info["set_before_torch"] is True and info["torch_threads"] == 2 and info["source"] == "--threads"
    # Passive only when the run saw other processes busy at its start, and then it says how busy.
    if info["wait"] == "spin":
        assert info["omp_wait_policy"] == "libgomp default"
    else:
        assert info["wait"] == "passive" and info["others_busy_cores"] > threads.BUSY_CORES
        assert info["omp_wait_policy"] == "PASSIVE"


@pytest.mark.slow
def test_the_apps_launched_run_trains_on_the_launchers_threads(tmp_path, monkeypatch):
    # The app's own path: a queued run folder, started as the server starts it (ffviz/runner/launcher.py).
    for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "FFVIZ_RUN_THREADS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    manager = RunManager(tmp_path, max_running=1, launcher=Launcher(threads=1))
    try:
        run_id = manager.submit(recipe_config("classroom", epochs=1))
        assert manager.wait(run_id, timeout=300)
    finally:
        manager.shutdown()
    info = json.loads(RunFolder(tmp_path / run_id).meta.read_text())["threads"]
    assert (info["threads"], info["torch_threads"], info["wait"]) == (1, 1, "single thread")
    assert info["set_before_torch"] is True and info["omp_wait_policy"] == "libgomp default"
