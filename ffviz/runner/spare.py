"""A spare run process: PyTorch and the trainer already imported, the classroom data loaded, waiting for one run.

    python -m ffviz.runner.spare --threads 1      # what ffviz/runner/warm.py starts; it reads one run folder on stdin

A fresh run process spends about 1.5 s importing PyTorch before its first batch (4-5 s from the click on a quiet
2-core machine, tens of seconds on a busy one). The server keeps one spare started ahead (ffviz/runner/warm.py):
on Start it writes the run's folder on the spare's stdin, and the spare trains that run as the CLI would, in the
same process, then ends. One spare serves one run only; the server starts the next spare for the next run.

Its threads are planned before torch loads, as ``python -m ffviz`` does (ffviz/runner/threads.py: OpenMP reads its
wait policy once, when torch loads it). A spare with one thread plans nothing that can go stale. A spare with
several measured the machine when it started; at the hand-over it measures again, and if the plan would now differ
it replaces itself (exec, same process id) with the ordinary cold command, which plans afresh. End of input
(the server went away before handing it a run) ends the spare.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ffviz.runner import threads as thread_plan


def train_run_dir(run_dir: Path, threads: int) -> int:
    """The one call into the run entry (ffviz/runner/run_process.py), as ``python -m ffviz train --run-dir``
    makes it: this process's threads (planned before torch loaded) and its niceness carried to its autogroup."""
    from ffviz.runner.launcher import carry_niceness_to_autogroup
    from ffviz.runner.run_process import main as run_entry
    from ffviz.runner.run_process import set_threads

    set_threads(threads)
    carry_niceness_to_autogroup()
    return run_entry(run_dir, progress=False)


def warm_up() -> None:
    """Import what a run imports and load the classroom recipe's data into the loader's cache (the app's default
    run: the digits, a few hundred kilobytes), so the run that comes next starts at its first batch."""
    import torch

    import ffviz.runner.run_process  # noqa: F401  (torch, the trainer, the run writer)
    from ffviz.data import load_dataset
    from ffviz.recipes import CLASSROOM, recipe_config

    # The optimiser's first construction imports torch._dynamo (1.3 s, measured): do it here, not in the run.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    cfg = recipe_config(CLASSROOM)
    # The compiled CPU kernels a run uses (from inductor's disk cache, or compiled the first time on this machine):
    # ready here, they cost the run nothing (ffviz/method/fast/kernels.py)
    from ffviz.method.device import cpu_bf16_convs
    from ffviz.method.fast import kernels

    if cfg.cpu_kernels == "fused":
        kernels.prepare_for(cpu_bf16_convs(cfg.bf16))
    try:
        load_dataset(cfg.dataset, image_size=cfg.image_size or None, channels=cfg.channels or None, seed=cfg.seed)
    except Exception as e:  # noqa: BLE001  a spare without its data still saves the import
        print(f"spare: could not preload {cfg.dataset}: {e}", flush=True)


def _to_log(run_dir: Path) -> None:
    """From here on this process's output goes to the run's process.log, as a cold run's does."""
    fd = os.open(run_dir / "process.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ffviz.runner.spare")
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)
    original_env = dict(os.environ)  # for a cold restart: before this plan touched OMP_* variables
    first = thread_plan.plan(args.threads)
    thread_plan.apply(first)
    warm_up()
    print(f"spare {os.getpid()}: ready ({first.threads} threads, {first.wait})", flush=True)
    line = sys.stdin.readline().strip()
    if not line:
        return 0  # the server closed our input without a run: nothing to do
    run_dir = Path(line)
    sys.stdin.close()
    _to_log(run_dir)
    if first.threads > 1 and thread_plan.plan(args.threads, original_env).wait != first.wait:
        from ffviz.runner.launcher import run_command
        command = run_command(run_dir, threads=args.threads)
        print("spare: the machine's load changed since this process started; starting the run afresh", flush=True)
        os.execve(command[0], command, original_env)
    from ffviz.store.stage import write_stage
    write_stage(run_dir, "data", warm=True)
    return train_run_dir(run_dir, args.threads)


if __name__ == "__main__":
    sys.exit(main())
