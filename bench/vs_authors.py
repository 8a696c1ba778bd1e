"""ffviz against the authors' own code as users run each: two processes, side by side, training seconds per epoch.
Prints the figures and writes the "vs-authors" section of bench/REPORT.md.

    git clone <the authors' repository mngh-cs/CAW-Conv> /tmp/CAW-Conv && git -C /tmp/CAW-Conv checkout c4514393
    pip install thop sparsemax matplotlib          # what the authors' script imports
    python bench/vs_authors.py --authors /tmp/CAW-Conv            # three set-ups, 2 and 1 threads, 2 rounds of 10

What runs, each in a fresh process (nothing warm is shared), alternating round by round (A then F, then F then A):
- ffviz, as a user starts it: ``python -m ffviz train --recipe side-by-side --seed 2222 --epochs N --threads T``;
  at one thread, the app's own launch instead (ffviz/runner/launcher.py: a queued run folder, ``python -m ffviz train
  --run-dir ... --threads 1`` with the launcher's environment, not niced here since the authors' process is not).
  Its epoch time is the record's ``epoch_seconds``: the training batches, not the evaluation after them.
- the authors' ResNet_CIFAR10.py, unmodified, imported from its own folder by bench/authors_driver.py and driven as
  its ``__main__`` drives it (their ``train_time``), fed the same tensors through a plain slicing loader.
Set-ups: "side-by-side" (digits 16x16, 1 channel, ResNet-17 pattern at widths 20/40/80/160, batch 32), "32x32"
(the same digits upsampled to 32x32, batch 64) and "32x32-wide" (32x32 with the widths doubled, 40/80/160/320: how
the advantage holds as the network grows). The figure is the median over all of a side's epochs, as a ratio:
the machine may be shared, and absolute seconds move with its load.
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.data import load_dataset  # noqa: E402
from ffviz.recipes import recipe_config  # noqa: E402
from ffviz.runner.launcher import Launcher  # noqa: E402
from ffviz.store.folder import RunFolder  # noqa: E402
from ffviz.store.runs import init_run_dir, new_run_dir  # noqa: E402

WIDTHS = "20,40,80,160"  # the side-by-side preset's widths (ffviz/presets.py)


@dataclass(frozen=True)
class Setup:
    name: str
    image_size: int
    batch: int
    widths: str = WIDTHS

    def flags(self) -> list[str]:
        """ffviz's flags on top of the side-by-side recipe (digits, 1 channel, widths 20/40/80/160)."""
        extra = [] if self.widths == WIDTHS else ["--widths", self.widths]
        return ["--image-size", str(self.image_size), "--batch-size", str(self.batch), *extra]


# "32x32-wide": how the cost grows with the network, widths doubled (about four times the arithmetic per image)
SETUPS = {"side-by-side": Setup("side-by-side", 16, 32), "32x32": Setup("32x32", 32, 64),
          "32x32-wide": Setup("32x32-wide", 32, 64, "40,80,160,320")}


def _env(threads: int) -> dict[str, str]:
    """A user's shell: the thread count each side is told, and no thread settings of this process's."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "FFVIZ_RUN_THREADS")}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    return env


def _epoch_seconds(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in RunFolder(run_dir).log("epochs").read_text().splitlines() if line.strip()]
    return [r["epoch_seconds"] for r in rows if r.get("epoch_seconds")]


def run_ffviz(setup: Setup, epochs: int, threads: int, scratch: Path) -> tuple[list[float], dict]:
    runs = scratch / "runs"
    runs.mkdir(exist_ok=True)
    if threads == 1:  # the app's launch: a queued folder, the launcher's command and environment
        cfg = recipe_config("side-by-side", seed=2222, epochs=epochs, image_size=setup.image_size,
                            batch_size=setup.batch, device="cpu", widths=tuple(int(w) for w in setup.widths.split(",")))
        run_dir = new_run_dir(runs, cfg, f"bench-{setup.name}")
        init_run_dir(run_dir, cfg)
        saved, env = dict(os.environ), _env(1)  # the user's shell, made before it is swapped in
        os.environ.clear()
        os.environ.update(env)
        try:
            proc = Launcher(threads=1, niceness=0).start(run_dir)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        if proc.wait() != 0:
            raise SystemExit(f"ffviz's launched run failed: see {RunFolder(run_dir).process_log}")
    else:
        before = set(runs.iterdir())
        subprocess.run([sys.executable, "-m", "ffviz", "train", "--recipe", "side-by-side", "--seed", "2222",
                        "--epochs", str(epochs), "--threads", str(threads), "--no-progress", "--device", "cpu",
                        "--runs-dir", str(runs), *setup.flags()], env=_env(threads), check=True,
                       stdout=subprocess.DEVNULL)
        (run_dir,) = set(runs.iterdir()) - before
    meta = json.loads(RunFolder(run_dir).meta.read_text())
    return _epoch_seconds(run_dir), {**meta.get("threads", {}), "kernels": meta.get("kernels") or {}}


def run_authors(setup: Setup, epochs: int, threads: int, scratch: Path, authors: Path, data: Path) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="authors-", dir=scratch))  # their script writes CSVs where it runs
    out = work / "times.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "authors_driver.py"), "--authors", str(authors),
                    "--data", str(data), "--widths", setup.widths, "--batch", str(setup.batch), "--epochs", str(epochs),
                    "--threads", str(threads), "--out", str(out)], cwd=work, env=_env(threads), check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["epoch_seconds"]


RESULTS = REPO / "bench" / "results" / "vs_authors.json"

# The other kind of CI machine's last figures, with their dates (each from its own report or issue), so that one
# machine's run does not erase the other's.
EARLIER = (
    "Earlier figures on other machines, before the compiled kernels and bf16 (eager float32 step):\n"
    "- AMD EPYC (AVX-512, BF16), 2 cores, measured 2026-12-04 03:50 (2 rounds of 10 epochs): side-by-side 2.13x "
    "(2 threads) and 1.88x (1 thread); 32x32 1.69x and 1.65x.\n"
    "- AMD EPYC (AVX2 only), 2 cores, measured by the same kind of driver before 2026-12-04 (issue 29's text): "
    "side-by-side 1.72x (2 threads; 2 rounds of 20 epochs: the authors 3.63 / 3.70 s, ffviz 2.13 / 2.15 s) and 1.61x "
    "(1 thread); 32x32 1.88x (2 threads).\n"
    "On an AVX2-only CPU there is no bf16 arithmetic: runs use the compiled kernels in float32.")


def merged_rows(machine: str, measured: dict, *, keep: bool) -> dict:
    """This machine's rows, in set-up and thread order: the ones measured now, and (``keep``) the earlier ones of
    the same machine that were not; written back to RESULTS."""
    old = json.loads(RESULTS.read_text()) if keep and RESULTS.exists() else {}
    rows = {**(old.get("rows", {}) if old.get("machine") == machine else {}), **measured}
    RESULTS.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    order = [f"{name}|{t}" for name in SETUPS for t in (2, 1)]
    return {k: rows[k] for k in sorted(rows, key=lambda k: order.index(k) if k in order else len(order))}


def tensors_path(scratch: Path, setup: Setup) -> Path:
    return scratch / f"digits-{setup.image_size}.pt"


def tensors(setup: Setup, scratch: Path) -> Path:
    """The training split ffviz's recipe trains on, saved for the authors' process (which imports no ffviz)."""
    data = load_dataset("digits", image_size=setup.image_size, channels=1, seed=2222, download=False)
    path = tensors_path(scratch, setup)
    torch.save({"train_x": data.train_x, "train_y": data.train_y, "num_classes": data.num_classes}, path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", type=Path, default=Path(os.environ.get("FFVIZ_AUTHORS_DIR", "/tmp/CAW-Conv")))
    ap.add_argument("--setups", default="side-by-side,32x32,32x32-wide",
                    help="comma-separated: side-by-side, 32x32, 32x32-wide")
    ap.add_argument("--threads", default="2,1", help="comma-separated thread counts, each a full comparison")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10, help="epochs of each side per round")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--merge", action="store_true",
                    help="keep this machine's earlier rows (bench/results/vs_authors.json) for those not measured now")
    args = ap.parse_args()
    authors = args.authors.resolve()
    if not (authors / "ResNet_CIFAR10.py").exists():
        raise SystemExit(f"{authors / 'ResNet_CIFAR10.py'} not found: give --authors their repository at c4514393")
    machine = machine_description()
    started, load0 = time.time(), os.getloadavg()[0]
    print(f"machine: {machine}; torch {torch.__version__}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="ffviz-vs-authors-"))
    rows, waits, prepares = [], set(), []
    for name in args.setups.split(","):
        setup = SETUPS[name]
        data = tensors(setup, scratch)
        for threads in (int(t) for t in args.threads.split(",")):
            theirs: list[list[float]] = []
            ours: list[list[float]] = []
            for r in range(args.rounds):
                order = ("authors", "ffviz") if r % 2 == 0 else ("ffviz", "authors")
                for side in order:
                    if side == "authors":
                        theirs.append(run_authors(setup, args.epochs, threads, scratch, authors, data))
                    else:
                        secs, info = run_ffviz(setup, args.epochs, threads, scratch)
                        ours.append(secs)
                        waits.add(f"{info.get('threads')} threads, {info.get('wait')}")
                        kern = info["kernels"]
                        prepares.append(kern.get("prepare_seconds") or 0.0)
                        waits.add("compiled kernels" + (", bf16 convolutions" if kern.get("bf16_convs") else "")
                                  if kern.get("fused") else f"eager kernels ({kern.get('error') or kern.get('why')})")
                print(f"{name}, {threads} thread(s), round {r + 1}: authors {statistics.median(theirs[-1]):.2f} "
                      f"s/epoch, ffviz {statistics.median(ours[-1]):.2f} s/epoch "
                      f"({statistics.median(theirs[-1]) / statistics.median(ours[-1]):.2f}x)", flush=True)
            a = statistics.median([s for r in theirs for s in r])
            f = statistics.median([s for r in ours for s in r])
            per_round = [statistics.median(t) / statistics.median(o) for t, o in zip(theirs, ours, strict=True)]
            rows.append((setup, threads, a, f, per_round, theirs, ours))
            print(f"  -> authors / ffviz: {a / f:.2f}x", flush=True)
    if args.no_report:
        return 0
    images = len(torch.load(tensors_path(scratch, rows[0][0]))["train_y"]) if rows else 0  # per epoch, every set-up
    when = time.strftime('%Y-%m-%d %H:%M', time.localtime(started))
    measured = {f"{setup.name}|{threads}": {"authors": a, "ffviz": f, "per_round": per_round, "images": images,
                                             "measured": when}
                for setup, threads, a, f, per_round, _, _ in rows}
    table_rows = merged_rows(machine, measured, keep=args.merge)
    table = ("| set-up | threads | authors s/epoch | ffviz s/epoch | ratio | per round | ffviz images/s | measured |\n"
             "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    for key, row in table_rows.items():
        setup, threads = SETUPS[key.split("|")[0]], int(key.split("|")[1])
        launch = "app launch" if threads == 1 else "CLI"
        table += (f"| {setup.name} ({setup.image_size}x{setup.image_size}, batch {setup.batch}, widths "
                  f"{setup.widths.replace(',', '/')}) | {threads} ({launch}) | {row['authors']:.2f} | "
                  f"{row['ffviz']:.2f} | **{row['authors'] / row['ffviz']:.2f}x** | "
                  f"{', '.join(f'{x:.2f}' for x in row['per_round'])} | {row['images'] / row['ffviz']:.0f} | "
                  f"{row['measured']} |\n")
    body = (f"Machine: {machine}; torch {torch.__version__}. Last measured {when} in {time.time() - started:.0f} s; "
            f"load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n\n"
            f"Command: `python bench/vs_authors.py --setups {args.setups} --threads {args.threads} --rounds "
            f"{args.rounds} --epochs {args.epochs}{' --merge' if args.merge else ''}` with the authors' repository at "
            "c4514393, imported unmodified from its own folder by bench/authors_driver.py"
            + (" (with --merge, rows not measured this time keep their own date)" if args.merge else "") + ".\n\n"
            "Each side in a process of its own, alternating (authors first in odd rounds, ffviz first in even ones), "
            f"{args.epochs} training epochs per side per round; seconds are the medians of all epochs. ffviz's threads "
            f"as its runs recorded them (meta.json): {'; '.join(sorted(waits))}. Before its first epoch each ffviz "
            f"run made its compiled kernels ready (from inductor's disk cache): median "
            f"{statistics.median(prepares) if prepares else 0:.1f} s, not counted in its epochs (bench/REPORT.md, "
            "\"compile cost\").\n\n" + table +
            "\nGoal: >= 2.0x on each set-up at 2 threads (the CLI) and at 1 thread (the app's launch).\n\n"
            + EARLIER)
    write_section("vs-authors", "CPU: ffviz against the authors' code, each in its own process", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
