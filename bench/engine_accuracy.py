"""Accuracy of the engine on the built-in digits: the published side-by-side set-up in all three modes, and a
classroom preset against the one-minute budget. Prints a table and writes the "engine-accuracy" section of
bench/REPORT.md.

    python bench/engine_accuracy.py                 # 3 learnable seeds, 1 static, 1 backprop, 20 epochs + classroom
    python bench/engine_accuracy.py --seeds 1 --epochs 2   # a quick look

Side-by-side set-up (the authors' CPU comparison): digits 16x16, 1 channel, ResNet-17 pattern at widths
20/40/80/160, batch 32, 20 epochs, the paper's recipe otherwise. Test accuracy is the final epoch's alpha-weighted
ensemble on the 360 test images; nothing is selected on the test split.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ffviz.runner import threads  # noqa: E402

threads.apply(threads.plan())  # before torch loads: ffviz/runner/threads.py

import torch  # noqa: E402

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.config import RunConfig  # noqa: E402
from ffviz.data import load_dataset  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402
from ffviz.recipes import RECIPES  # noqa: E402

SIDE_BY_SIDE = dict(dataset="digits", image_size=16, channels=1, preset="side-by-side", batch_size=32, device="cpu")
CLASSROOM = dict(RECIPES["classroom"], device="cpu")


class EpochTimes(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch(self, trainer, record, snapshot) -> None:
        if record.epoch_seconds is not None:
            self.seconds.append(record.epoch_seconds)


def run(cfg: RunConfig, data) -> dict:
    times = EpochTimes()
    result: dict = {}

    class Test(Callback):
        def on_end(self, trainer, status, test) -> None:
            result.update(status=status, test=test, train_time=trainer.train_time)

    t0 = time.perf_counter()
    Trainer(cfg, data=data, callbacks=[times, Test()]).fit()
    result["wall"] = time.perf_counter() - t0
    result["epoch_s"] = statistics.median(times.seconds)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the learnable side-by-side runs")
    ap.add_argument("--other-seeds", type=int, default=1, help="seeds of the static and backprop runs")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--classroom-epochs", type=int, default=RECIPES["classroom"]["epochs"])
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    data = load_dataset("digits", image_size=16, channels=1)
    rows = []
    for mode in ("learnable", "static", "backprop"):
        accs, secs = [], []
        for seed in range(1, (args.seeds if mode == "learnable" else args.other_seeds) + 1):
            r = run(RunConfig(**SIDE_BY_SIDE, mode=mode, epochs=args.epochs, seed=seed), data)
            accs.append(r["test"].acc_alpha)
            secs.append(r["epoch_s"])
            print(f"side-by-side {mode:9s} seed {seed}: test {r['test'].acc_alpha:.2f}%  "
                  f"{r['epoch_s']:.2f} s/epoch", flush=True)
        rows.append((f"side-by-side, {mode}", args.epochs, accs, statistics.mean(secs), None))
    cr = run(RunConfig.from_dict({**CLASSROOM, "epochs": args.classroom_epochs, "seed": 1}), data)
    print(f"classroom: test {cr['test'].acc_alpha:.2f}%  {cr['epoch_s']:.2f} s/epoch  "
          f"{cr['train_time']:.1f} s of training", flush=True)
    rows.append(("classroom recipe (T0 = 1), learnable", args.classroom_epochs, [cr["test"].acc_alpha], cr["epoch_s"],
                 cr["train_time"]))

    lines = ["| set-up | epochs | seeds | test acc. mean (per seed), % | s / epoch (median) | training time |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, epochs, accs, sec, total in rows:
        per = ", ".join(f"{a:.2f}" for a in accs)
        lines.append(f"| {name} | {epochs} | {len(accs)} | **{statistics.mean(accs):.2f}** ({per}) | {sec:.2f} | "
                     f"{'' if total is None else f'{total:.1f} s'} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_report:
        cmd = "python bench/engine_accuracy.py " + " ".join(sys.argv[1:])
        body = (f"Machine: {machine_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
                f"{platform.python_version()}. Measured {time.strftime('%Y-%m-%d')}.\n\nCommand: `{cmd.strip()}`\n\n"
                f"{table}\n\nTest accuracy is the final epoch's alpha-weighted ensemble on digits' 360 test images "
                f"(nothing is selected on the test split). Seconds per epoch count training batches only "
                f"(the per-epoch validation pass is excluded); training time includes it. "
                f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. Load average at the end: "
                f"{os.getloadavg()[0]:.1f} (the machine is shared: times are upper bounds when it is above 2).")
        write_section("engine-accuracy", "Engine accuracy on digits (issue: the Forward-Forward engine)", body)


if __name__ == "__main__":
    main()
