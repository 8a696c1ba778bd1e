"""What the compiled CPU kernels cost before they pay: the first run on a machine compiles them (inductor's C++
backend), later runs load them from inductor's disk cache. Prints the figures and writes the "compile-cost" section
of bench/REPORT.md.

    python bench/compile_cost.py                     # side-by-side and 32x32, 1 and 2 threads

Per set-up and thread count, three CLI runs of ``--epochs 3``: with an empty inductor cache (cold: a fresh
TORCHINDUCTOR_CACHE_DIR), again with that cache (warm), and the eager float32 step (``--cpu-kernels eager
--no-bf16``). "prepare" is meta.json's kernels.prepare_seconds: the time the run spent making its kernels ready
before its first epoch. Break-even: prepare seconds over the seconds each epoch saves against the eager step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import machine_description, write_section  # noqa: E402
from bench.vs_authors import SETUPS  # noqa: E402


def run(setup, threads: int, cache: Path, runs: Path, *extra: str) -> dict:
    before = set(runs.iterdir()) if runs.exists() else set()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ffviz", "train", "--recipe", "side-by-side", "--epochs", "3",
                    "--threads", str(threads), "--no-progress", "--device", "cpu", "--runs-dir", str(runs),
                    *setup.flags(), *extra], check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    (folder,) = set(runs.iterdir()) - before
    rows = [json.loads(line) for line in (folder / "epochs.jsonl").read_text().splitlines() if line.strip()]
    kern = json.loads((folder / "meta.json").read_text()).get("kernels") or {}
    return {"wall": wall, "epoch": statistics.median(r["epoch_seconds"] for r in rows if r.get("epoch_seconds")),
            "prepare": kern.get("prepare_seconds") or 0.0, "fused": bool(kern.get("fused"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setups", default="side-by-side,32x32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    started, machine = time.time(), machine_description()
    scratch = Path(tempfile.mkdtemp(prefix="ffviz-compile-cost-"))
    table = ("| set-up | threads | cold prepare s | warm prepare s | eager s/epoch | compiled s/epoch | saved per "
             "epoch | break-even, cold | break-even, warm |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
    for name in args.setups.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            cache, runs = scratch / f"cache-{name}-{threads}", scratch / "runs"
            cold = run(SETUPS[name], threads, cache, runs)
            warm = run(SETUPS[name], threads, cache, runs)
            eager = run(SETUPS[name], threads, cache, runs, "--cpu-kernels", "eager", "--no-bf16")
            saved = eager["epoch"] - warm["epoch"]
            even = [f"{r['prepare'] / saved:.1f} epochs" if saved > 0 else "never" for r in (cold, warm)]
            print(f"{name}, {threads} thread(s): cold {cold['prepare']:.1f} s, warm {warm['prepare']:.1f} s, eager "
                  f"{eager['epoch']:.2f} s/epoch, compiled {warm['epoch']:.2f} s/epoch; break-even {even}", flush=True)
            table += (f"| {name} | {threads} | {cold['prepare']:.1f} | {warm['prepare']:.1f} | {eager['epoch']:.2f} | "
                      f"{warm['epoch']:.2f} | {saved:.2f} s | {even[0]} | {even[1]} |\n")
    if args.no_report:
        return 0
    body = (f"Machine: {machine}. Measured {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} in "
            f"{time.time() - started:.0f} s, load average {os.getloadavg()[0]:.1f} at the end. Command: "
            f"`python bench/compile_cost.py --setups {args.setups} --threads {args.threads}`.\n\n" + table +
            "\nThe cold cost is paid once per machine, torch version and thread count (inductor's cache key), not per "
            "run; the app's warm spare process pays the warm one before a Start (ffviz/runner/spare.py). A run "
            "records what it used in meta.json (\"kernels\"), and `--cpu-kernels eager` turns the kernels off.")
    write_section("compile-cost", "CPU kernels: compile cost and break-even", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
