"""The launcher: the command a server starts a run with, a scheduler's template around it, and the machine's share."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from ffviz.runner.launcher import Launcher, autogroup_niceness, default_max_running, gpu_count, run_command, wrap


def test_the_run_command_is_the_clis_own():
    cmd = run_command("/runs/a b", threads=3)
    assert cmd[:4] == [sys.executable, "-m", "ffviz", "train"]
    assert cmd[cmd.index("--run-dir") + 1] == "/runs/a b" and cmd[cmd.index("--threads") + 1] == "3"


def test_a_template_wraps_the_command_quoted_or_its_arguments():
    cmd = run_command("/runs/a b", threads=1)
    assert wrap(cmd, None) == cmd
    assert wrap(cmd, "srun --gres=gpu:1 {command}") == ["srun", "--gres=gpu:1", *cmd]  # the space survives
    assert wrap(cmd, "torchrun --nproc-per-node=4 {args}") == ["torchrun", "--nproc-per-node=4", *cmd[1:]]
    with pytest.raises(ValueError, match="FFVIZ_LAUNCHER"):
        wrap(cmd, "srun --gres=gpu:1")


def test_a_local_run_is_niced_and_a_scheduled_one_is_not():
    local = Launcher(threads=2).command("/runs/x")
    assert local[:3] == ["nice", "-n", "10"] or local[0] == sys.executable  # `nice` where the system has it
    scheduled = Launcher(template="srun {command}").command("/runs/x")
    assert scheduled[0] == "srun" and "nice" not in scheduled
    assert shlex.join(scheduled).endswith("--run-dir /runs/x --threads 1 --no-progress")


def test_the_default_follows_cores_and_gpus():
    assert default_max_running(cores=2, gpus=0) == 2
    assert default_max_running(cores=16, gpus=0) == 16
    assert default_max_running(cores=1, gpus=0) == 1
    assert default_max_running(cores=16, gpus=2) == 8  # 4 classroom runs per GPU
    assert gpu_count({"CUDA_VISIBLE_DEVICES": "0,3"}) == 2 and gpu_count({"CUDA_VISIBLE_DEVICES": ""}) == 0


def test_threads_come_from_the_environment_or_the_share_of_cores():
    assert Launcher.from_env({"FFVIZ_RUN_THREADS": "3"}).threads == 3
    assert Launcher.from_env({}, max_running=1).threads >= 1
    assert Launcher.from_env({"FFVIZ_LAUNCHER": "srun {command}"}).template == "srun {command}"
    with pytest.raises(ValueError, match="threads"):
        Launcher(threads=0)


@pytest.mark.skipif(autogroup_niceness() is None, reason="this kernel shows no autogroups (/proc/self/autogroup)")
def test_a_launched_run_carries_its_niceness_to_its_own_autogroup():
    """With autogroups, niceness orders processes only within a session: a launched run (its own session, under
    nice) renices its session's autogroup, so the server's pages really go first; a CLI run in a terminal does not."""
    probe = ("from ffviz.runner.launcher import carry_niceness_to_autogroup as c, autogroup_niceness as n; done = c(); "
             "print(done, n())")
    cmd = [sys.executable, "-c", probe]
    launched = subprocess.run(["nice", "-n", "10", *cmd], capture_output=True, text=True, timeout=60,
                              start_new_session=True, check=True)
    assert launched.stdout.split() == ["True", "10"], launched.stderr
    in_terminal = subprocess.run(["nice", "-n", "10", *cmd], capture_output=True, text=True, timeout=60, check=True)
    assert in_terminal.stdout.split()[0] == "False"
