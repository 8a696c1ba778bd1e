"""Where a learned assignment can pay: static, the paper's learnable start and the three labelled departures from it,
3 seeds a cell, on the classroom digits and on digit pairs at 25 and 100 classes, at equal epochs and at equal
steps. Every run is `python -m ffviz train ...`, as a user runs it. Writes the "pairs" section of bench/REPORT.md.

    python bench/pairs_study.py --jobs 2                  # every cell; each run --threads 1; results as they come
    python bench/pairs_study.py --report-only             # rewrite the section from bench/results/pairs_study.json
    python bench/pairs_study.py --cells pairs100-4ep      # only some cells

Nothing is selected on the test split: every figure is the final epoch's test accuracy of the α-weighted vote, and
the variants' settings were fixed before any run (below). Run folders go to bench/out/pairs_study/ (git-ignored);
the figures, each run's per-layer temperatures and W entropies included, to bench/results/pairs_study.json after
each run, so a study cut short still reports what it finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pairs_report import report  # noqa: E402
from ffviz.figures.diagnosis import run_diagnosis  # noqa: E402

OUT = ROOT / "bench" / "results" / "pairs_study.json"
RUNS = ROOT / "bench" / "out" / "pairs_study"
SEEDS = (1, 2, 3)

# The starts, fixed before any run: the paper's (constant A, learnable T) and each departure alone. Scales are in
# W's logits (A/T0): noise 0.5 and a partition 2 logits up are small next to what training moves (AdamW's steps of
# ~lr = 0.08 in A, i.e. ~0.008 logits at T0 = 10); a fixed T of 1 is where A's steps move W's logits by ~lr a step.
VARIANTS: dict[str, list[str]] = {
    "static": ["--mode", "static"],
    "paper": ["--mode", "learnable"],
    "random A 0.5": ["--mode", "learnable", "--init-noise", "0.5"],
    "partition 2": ["--mode", "learnable", "--init-partition", "2"],
    "fixed T 1": ["--mode", "learnable", "--no-learn-temperature", "--temperature", "1"],
}
_PAIRS = ["--preset", "classroom", "--batch-size", "32"]  # the paper's T0 = 10 and optimiser; 16x16 pairs
# cell -> (what it is, flags). 500 steps is the equal-steps budget: digits 25 epochs of 20 steps, pairs 4 of 125.
CELLS: dict[str, tuple[str, list[str]]] = {
    "digits-10ep": ("digits, the classroom recipe (8x8, widths 20/40, batch 64, T0 0.3), 10 epochs = 200 steps",
                    ["--recipe", "classroom"]),
    "digits-500st": ("digits, the classroom recipe, 25 epochs = 500 steps", ["--recipe", "classroom", "--epochs",
                                                                              "25"]),
    "pairs25-4ep": ("digit pairs, 25 classes, 16x16, widths 25/50, batch 32, T0 10, 4 epochs = 500 steps",
                    ["--dataset", "digit-pairs-25", "--widths", "25,50", "--epochs", "4", *_PAIRS]),
    "pairs25-10ep": ("digit pairs, 25 classes, widths 25/50, batch 32, T0 10, 10 epochs = 1,250 steps",
                     ["--dataset", "digit-pairs-25", "--widths", "25,50", "--epochs", "10", *_PAIRS]),
    "pairs100-4ep": ("digit pairs, 100 classes, 16x16, widths 100/200, batch 32, T0 10, 4 epochs = 500 steps",
                     ["--dataset", "digit-pairs-100", "--widths", "100,200", "--epochs", "4", *_PAIRS]),
}
_lock = threading.Lock()


def load() -> list[dict]:
    return json.loads(OUT.read_text()) if OUT.exists() else []


def command(cell: str, variant: str, seed: int) -> list[str]:
    return [sys.executable, "-m", "ffviz", "train", *CELLS[cell][1], *VARIANTS[variant], "--seed", str(seed),
            "--threads", "1", "--device", "cpu", "--no-progress", "--probe-size", "20",
            "--runs-dir", str(RUNS / cell), "--name", f"{variant.replace(' ', '-')}-seed-{seed}"]


def run_one(cell: str, variant: str, seed: int) -> dict | None:
    cmd = command(cell, variant, seed)
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        print(f"FAILED {cell} {variant} {seed}: {proc.stderr[-800:]}", flush=True)
        return None
    run_dir = Path(json.loads(proc.stdout.strip().splitlines()[-1])["run"])
    run_dir = run_dir if run_dir.is_absolute() else ROOT / run_dir
    row = {"cell": cell, "variant": variant, "seed": seed, "wall_s": round(time.time() - t0, 1),
           "command": " ".join(["python", *cmd[1:]]).replace(str(ROOT) + "/", ""), **summarise(run_dir)}
    with _lock:
        rows = [r for r in load() if (r["cell"], r["variant"], r["seed"]) != (cell, variant, seed)]
        OUT.write_text(json.dumps([*rows, row], indent=1))
    print(f"{cell:14s} {variant:14s} seed {seed}: test {row['test']:.2f}%  {row['wall_s']} s", flush=True)
    return row


def summarise(run_dir: Path) -> dict:
    """What the report reads of a run: its figures, and what the diagnosis says of its W and T."""
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines() if line.strip()]
    test = json.loads((run_dir / "test.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    diag = run_diagnosis(run_dir)
    return {"run": str(run_dir.relative_to(ROOT)), "test": test["acc_alpha"], "val": epochs[-1]["acc_alpha"],
            "val_curve": [round(e["acc_alpha"], 2) for e in epochs], "steps": epochs[-1]["step"],
            "epochs": epochs[-1]["epoch"], "train_s": meta.get("train_time"),
            "temperature": epochs[-1]["temperature"], "entropy": diag.entropy_last,
            "stuck": [f.sentence for f in diag.flags if f.kind != "ceiling"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (each on one thread)")
    ap.add_argument("--cells", default=",".join(CELLS), help="comma-separated cells, in this order")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--redo", action="store_true", help="rerun cells already in the JSON")
    args = ap.parse_args()
    if not args.report_only:
        done = {(r["cell"], r["variant"], r["seed"]) for r in load()}
        cells = [c for c in args.cells.split(",") if c]
        todo = [(c, v, s) for c in cells for s in SEEDS for v in VARIANTS if args.redo or (c, v, s) not in done]
        # The longest cell shares the machine with the others from the start: one worker takes the 100-class runs,
        # the other the rest, so both halves finish about together.
        big = [t for t in todo if t[0] == "pairs100-4ep"]
        rest = [t for t in todo if t[0] != "pairs100-4ep"]
        order = [t for pair in zip(big, rest, strict=False) for t in pair] + big[len(rest):] + rest[len(big):]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(lambda t: run_one(*t), order))
    rows = load()
    for r in rows:  # the diagnosis read again where the run folder is still here (its rules may have changed)
        if (ROOT / r["run"]).is_dir():
            diag = run_diagnosis(ROOT / r["run"])
            r.update(entropy=diag.entropy_last, stuck=[f.sentence for f in diag.flags if f.kind != "ceiling"])
    report(rows, CELLS, VARIANTS)


if __name__ == "__main__":
    main()
