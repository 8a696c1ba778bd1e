"""Does the faster step keep the method's accuracy? Test accuracy over 3 seeds, before and after the CPU speed
levers, on both set-ups of bench/vs_authors.py; each run is the CLI command a user types. Prints the figures and
writes the "kernels-accuracy" section of bench/REPORT.md.

    python bench/kernels_accuracy.py                  # 3 seeds x 2 set-ups x 2 variants, the recipe's 20 epochs

Variants: "before" is the eager float32 step (``--cpu-kernels eager --no-bf16``, the step of the last report);
"after" is the default (compiled kernels, and bf16 convolutions on maps of 8x8 and more where the CPU has bf16
arithmetic). Accuracy is the final epoch's alpha-weighted ensemble on the 360 test images; nothing is selected on
the test split.
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

VARIANTS = {"before": ["--cpu-kernels", "eager", "--no-bf16"], "after": []}


def train(setup, variant: str, seed: int, epochs: int, threads: int, runs: Path) -> dict:
    before = set(runs.iterdir()) if runs.exists() else set()
    subprocess.run([sys.executable, "-m", "ffviz", "train", "--recipe", "side-by-side", "--seed", str(seed),
                    "--epochs", str(epochs), "--threads", str(threads), "--no-progress", "--device", "cpu",
                    "--runs-dir", str(runs), *setup.flags(), *VARIANTS[variant]], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    (run,) = set(runs.iterdir()) - before
    test = json.loads((run / "test.json").read_text())
    epochs_rows = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines() if line.strip()]
    meta = json.loads((run / "meta.json").read_text())
    return {"acc": test["acc_alpha"], "s_per_epoch": statistics.median(
        r["epoch_seconds"] for r in epochs_rows if r.get("epoch_seconds")), "kernels": meta.get("kernels")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--setups", default="side-by-side,32x32")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    started, machine = time.time(), machine_description()
    runs = Path(tempfile.mkdtemp(prefix="ffviz-kernels-acc-"))
    rows = []
    for name in args.setups.split(","):
        for variant in VARIANTS:
            res = [train(SETUPS[name], variant, s, args.epochs, args.threads, runs) for s in seeds]
            accs = [r["acc"] for r in res]
            rows.append((name, variant, accs, statistics.median(r["s_per_epoch"] for r in res), res[0]["kernels"]))
            print(f"{name} {variant}: test acc {statistics.mean(accs):.2f} ({', '.join(f'{a:.2f}' for a in accs)}), "
                  f"{rows[-1][3]:.2f} s/epoch, kernels {res[0]['kernels']}", flush=True)
    if args.no_report:
        return 0
    table = ("| set-up | step | test acc. mean (per seed), % | s / epoch (median) | kernels (meta.json) |\n"
             "| --- | --- | --- | --- | --- |\n")
    for name, variant, accs, sec, kern in rows:
        setup = SETUPS[name]
        what = ("eager float32 (`--cpu-kernels eager --no-bf16`)" if variant == "before" else
                "default: compiled kernels" + (", bf16 convolutions" if kern and kern.get("bf16_convs") else ""))
        table += (f"| {name} ({setup.image_size}x{setup.image_size}, batch {setup.batch}) | {what} | "
                  f"**{statistics.mean(accs):.2f}** ({', '.join(f'{a:.2f}' for a in accs)}) | {sec:.2f} | "
                  f"{'fused' if kern and kern.get('fused') else 'eager'} |\n")
    body = (f"Machine: {machine}. Measured {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} in "
            f"{time.time() - started:.0f} s, load average {os.getloadavg()[0]:.1f} at the end.\n\n"
            f"Command: `python bench/kernels_accuracy.py --seeds {args.seeds} --epochs {args.epochs} --threads "
            f"{args.threads}`: `python -m ffviz train --recipe side-by-side` with each set-up's flags, seeds "
            f"{args.seeds}, {args.epochs} epochs, {args.threads} threads. Test accuracy is the final epoch's "
            "alpha-weighted ensemble on digits' 360 test images.\n\n" + table)
    write_section("kernels-accuracy", "CPU speed levers: the accuracy they keep (3 seeds, both set-ups)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
