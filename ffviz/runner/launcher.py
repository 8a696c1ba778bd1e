"""Starting a run's process: the same command as the CLI, on this machine or through a scheduler.

    launcher = Launcher.from_env()                  # $FFVIZ_LAUNCHER, $FFVIZ_RUN_THREADS, the machine's cores
    proc = launcher.start(Path("runs/20261126-172000-learnable-classroom"))
    # runs: python -m ffviz train --run-dir runs/20261126-... --threads 1 --no-progress

A run is a process of its own, as a Jupyter kernel is: a crash, a CUDA fault or the OOM killer ends that run only,
and the server holds no model. Locally the process runs in its own session (a server killed with Ctrl-C or SIGKILL
leaves it training; a restarted server adopts it), at a lower priority than the server (pages go first) and with
its share of the CPU threads. Its stdout and stderr go to ``process.log`` in the run folder, so a crash's traceback
shows on its page.

``FFVIZ_LAUNCHER`` hands the run to a scheduler instead: a command template in which ``{command}`` is the whole
command above (shell-quoted) and ``{args}`` the part after the Python interpreter, for launchers that start Python
themselves. The runs folder must then be on storage the nodes share.

    FFVIZ_LAUNCHER='srun --gres=gpu:1 {command}'
    FFVIZ_LAUNCHER='torchrun --nproc-per-node=4 {args}'
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ffviz.env import positive_int
from ffviz.store.folder import RunFolder
from ffviz.store.places import REPO  # the folder that holds ffviz/: the run imports this copy

LAUNCHER_ENV = "FFVIZ_LAUNCHER"
MAX_RUNNING_ENV = "FFVIZ_MAX_RUNNING"
THREADS_ENV = "FFVIZ_RUN_THREADS"
PROCESS_LOG = RunFolder.PROCESS_LOG
# Training processes run this much nicer than the server on the CPU: with 30 sessions on 2 cores the pages go first
# and training takes the CPU they leave (bench/REPORT.md, load test).
TRAIN_NICENESS = 10
# CPU threads per run. Measured on 2 cores (bench/REPORT.md, "Runs per core"): two runs of one thread each train
# more images per second together than one run with two threads, and one thread per run never oversubscribes.
THREADS_PER_RUN = 1
# Runs at a time per GPU: the classroom presets take well under 1 GB each, and several small runs keep a GPU busier
# than one. A paper-size network fills a GPU alone: set FFVIZ_MAX_RUNNING=1 (per GPU) for those.
RUNS_PER_GPU = 4


def gpu_count(environ: Mapping[str, str] = os.environ) -> int:
    """NVIDIA GPUs this process may use, without importing torch (the server never does)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_max_running(cores: int | None = None, gpus: int | None = None) -> int:
    """As many runs as keep the machine busy without oversubscribing it: RUNS_PER_GPU per GPU, else one per
    THREADS_PER_RUN cores."""
    cores = cpu_cores() if cores is None else cores
    gpus = gpu_count() if gpus is None else gpus
    if gpus > 0:
        return gpus * RUNS_PER_GPU
    return max(1, cores // THREADS_PER_RUN)


def max_running_setting(environ: Mapping[str, str] = os.environ) -> tuple[int, str | None]:
    """(how many runs train at once, a note when $FFVIZ_MAX_RUNNING was set but unusable and the default holds)."""
    default = default_max_running()
    return positive_int(environ, MAX_RUNNING_ENV, default, example=4,
                        unit=f"training {default} runs at a time (from this machine's cores and GPUs)")


def carry_niceness_to_autogroup() -> bool:
    """In a run the server launched (a session of its own, started under ``nice``), give the session's autogroup the
    same niceness; True when it did.

    Linux with autogroups (sched_autogroup_enabled, the default on desktops and many servers) shares the CPU fairly
    between sessions first and applies niceness only inside a session: a niced run in its own session would still get
    as much CPU as the whole server, and pages would wait (measured: p95 page 2.5 s against 1.6 s). Only a session
    leader does this, so a CLI run in a user's terminal never renices the terminal's other processes."""
    niceness = os.nice(0)
    if niceness <= 0 or os.getsid(0) != os.getpid():
        return False
    try:
        Path("/proc/self/autogroup").write_text(str(min(niceness, 19)))
    except OSError:  # no autogroups here (or not Linux): niceness alone already orders the processes
        return False
    # Some kernels and sandboxes accept the write but show no autogroup: only a read-back says it took effect.
    return autogroup_niceness() == min(niceness, 19)


def autogroup_niceness() -> int | None:
    """This process's autogroup niceness, or None where the kernel shows none (no autogroups, not Linux, a sandbox
    whose /proc/self/autogroup is empty)."""
    try:
        fields = Path("/proc/self/autogroup").read_text().split()  # e.g. "/autogroup-639 nice 0"
    except OSError:
        return None
    if len(fields) < 3 or fields[-2] != "nice":
        return None
    try:
        return int(fields[-1])
    except ValueError:
        return None


def run_command(run_dir: Path | str, *, threads: int) -> list[str]:
    """The command that trains (or resumes) the run whose config.json is already in run_dir."""
    return [sys.executable, "-m", "ffviz", "train", "--run-dir", str(Path(run_dir).absolute()),
            "--threads", str(threads), "--no-progress"]


def wrap(command: list[str], template: str | None) -> list[str]:
    """The command as the launcher template runs it; without a template, the command itself."""
    if not template or not template.strip():
        return command
    if "{command}" not in template and "{args}" not in template:
        raise ValueError(f"{LAUNCHER_ENV}={template!r} has no {{command}} or {{args}}; for example "
                         f"'srun --gres=gpu:1 {{command}}' or 'torchrun --nproc-per-node=4 {{args}}'")
    text = template.replace("{command}", shlex.join(command)).replace("{args}", shlex.join(command[1:]))
    return shlex.split(text)


@dataclass(frozen=True)
class Launcher:
    template: str | None = None  # FFVIZ_LAUNCHER: None runs the command here
    threads: int = THREADS_PER_RUN  # CPU threads each run may use (torch, OpenMP, MKL)
    niceness: int = TRAIN_NICENESS  # added to a local run's niceness (0: as the server)

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads={self.threads} must be at least 1")
        if self.niceness < 0:
            raise ValueError(f"niceness={self.niceness} must be at least 0")
        wrap(["python"], self.template)  # a template without {command} fails here, at the server's start

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, *, max_running: int | None = None) -> Launcher:
        """$FFVIZ_LAUNCHER, and $FFVIZ_RUN_THREADS or this machine's cores shared among max_running runs."""
        raw = environ.get(THREADS_ENV, "").strip()
        if raw.isdigit() and int(raw) >= 1:
            threads = int(raw)
        else:
            threads = max(THREADS_PER_RUN, cpu_cores() // max(1, max_running or default_max_running()))
        return cls(template=environ.get(LAUNCHER_ENV) or None, threads=threads)

    def command(self, run_dir: Path | str) -> list[str]:
        return self.niced(wrap(run_command(run_dir, threads=self.threads), self.template))

    def niced(self, cmd: list[str]) -> list[str]:
        """A local command under ``nice`` (not preexec_fn: unsafe in a server with threads)."""
        if self.template is None and self.niceness and shutil.which("nice"):
            return ["nice", "-n", str(self.niceness), *cmd]
        return cmd

    def environment(self) -> dict[str, str]:
        """A run process's environment: its threads (before torch loads), and this copy of ffviz first."""
        threads = str(self.threads)
        return {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, THREADS_ENV: threads,
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
                "PYTHONUNBUFFERED": "1"}

    def start(self, run_dir: Path | str) -> subprocess.Popen:
        """Start the run's process; it outlives this one (its own session), and writes its output to process.log."""
        run_dir = Path(run_dir)
        with open(run_dir / PROCESS_LOG, "ab") as log:
            return subprocess.Popen(self.command(run_dir), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=self.environment(), start_new_session=True,
                                    close_fds=True)
