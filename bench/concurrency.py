"""Runs per machine: how many run processes, with how many threads each, keep the cores busy without oversubscribing
them? The measurement behind FFVIZ_MAX_RUNNING's default (ffviz/runner/launcher.py). Writes the "runs-per-core" section
of
bench/REPORT.md.

    python bench/concurrency.py                          # classroom on digits, 3 epochs, 2 rounds (~3 min on 2 cores)
    python bench/concurrency.py --epochs 1 --rounds 1 --no-report      # a smoke run

Each layout trains the same config with ``python -m ffviz train --threads T`` in N processes started together; its
figure is the training images/s of all its runs together (the sum of each run's mean over its epochs, read from
their epochs.jsonl: training time only, so the seconds a process spends importing torch do not count). The layouts
alternate round by round on the same machine, and the median of the rounds counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.runner.launcher import THREADS_PER_RUN, default_max_running  # noqa: E402


def layouts(cores: int) -> list[tuple[int, int]]:
    """(runs, threads per run): one run on every core, one run per core, and one thread per run with two runs."""
    out = [(1, cores), (cores, 1), (1, 1)]
    if cores > 2:
        out.append((cores // 2, 2))
    return list(dict.fromkeys(out))


def train_together(runs: int, threads: int, args: argparse.Namespace, root: Path) -> float:
    """Start ``runs`` CLI runs at once, each with ``threads`` threads; their summed training images/s."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    procs = [subprocess.Popen([sys.executable, "-m", "ffviz", "train", "--preset", args.preset, "--epochs",
                               str(args.epochs), "--threads", str(threads), "--seed", str(i + 1), "--runs-dir",
                               str(root / f"r{runs}x{threads}-{i}"), "--no-progress"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(runs)]
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"a run failed: {err[-2000:]}")
    total = 0.0
    for i in range(runs):
        (run_dir,) = (root / f"r{runs}x{threads}-{i}").iterdir()
        rows = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines() if line.strip()]
        total += statistics.mean(r["images_per_sec"] for r in rows if r.get("images_per_sec"))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    results: dict[tuple[int, int], list[float]] = {lay: [] for lay in layouts(cores)}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for (runs, threads) in results:
                ips = train_together(runs, threads, args, Path(tmp) / f"round{r}")
                results[(runs, threads)].append(ips)
                print(f"round {r + 1}: {runs} run(s) x {threads} thread(s): {ips:,.0f} images/s together",
                      flush=True)
    load_after = os.getloadavg()
    best = max(results, key=lambda k: statistics.median(results[k]))
    default = default_max_running(gpus=0)
    rows = "\n".join(f"| {runs} | {threads} | {statistics.median(v):,.0f} | {', '.join(f'{x:,.0f}' for x in v)} |"
                     for (runs, threads), v in results.items())
    body = "\n".join([
        f"Machine: {machine_description()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(the cores are shared with other work).",
        f"Preset {args.preset} on digits, {args.epochs} epochs, batch 32, trained with `python -m ffviz train "
        "--threads T` in N processes started together; images/s of training summed over the runs (median of "
        f"{args.rounds} alternating rounds).",
        "",
        "| runs at once | threads each | images/s together, median | each round |",
        "|---|---|---|---|",
        rows,
        "",
        f"Most images/s together in this measurement: {best[0]} run(s) x {best[1]} thread(s). The code's default "
        f"(ffviz/runner/launcher.py): THREADS_PER_RUN = {THREADS_PER_RUN}, so FFVIZ_MAX_RUNNING = {default} on this "
        f"machine's {cores} cores, each run given {max(1, cores // default)} thread(s).",
        "",
        f"Command: `python bench/concurrency.py --preset {args.preset} --epochs {args.epochs} --rounds {args.rounds}`",
    ])
    print(body)
    if not args.no_report:
        write_section("runs-per-core", "Runs per core: what FFVIZ_MAX_RUNNING's default rests on", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
