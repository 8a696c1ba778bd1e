"""ffviz against the authors' own code, side by side in one process: training seconds per epoch on the CPU, on the
side-by-side set-up (digits 16x16, 1 channel, ResNet-17 pattern at widths 20/40/80/160, batch 32, seed 2222). Prints
the figures and writes the "vs-authors" section of bench/REPORT.md.

    git clone <the authors' repository mngh-cs/CAW-Conv> /tmp/CAW-Conv && git -C /tmp/CAW-Conv checkout c4514393
    pip install thop sparsemax matplotlib          # what the authors' script imports
    python bench/vs_authors.py --authors /tmp/CAW-Conv            # 2 rounds x 3 epochs each (~4 min, 2 cores)

The authors' ResNet_CIFAR10.py is imported unmodified from its own folder (never copied into this repository) and
driven as its own ``__main__`` drives it: a ``Resnet`` with the same hyperparameters (lr 0.08 -> 0.006, weight decay
5e-4, dropout 0.1) at the side-by-side widths and 1 input channel, ``update_epoch`` on every layer, then
``model.update(train_loader)`` timed as its script times an epoch. Its input is a DataLoader over the very tensors
ffviz trains on (the same digits split). ffviz trains the ``side-by-side`` recipe with its Trainer; its epoch time
is the training part of the epoch (the record's ``epoch_seconds``), as for the authors. The two alternate, round after
round, in one process with the same threads: the ratio of the medians is the figure (the machine may be shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402
from ffviz.recipes import recipe_config  # noqa: E402

WIDTHS = (20, 40, 80, 160)


def load_authors(folder: Path):
    """Import the authors' script as a module from a scratch working folder (it writes its CSV logs into the
    current folder when imported)."""
    script = folder / "ResNet_CIFAR10.py"
    if not script.exists():
        raise SystemExit(f"{script} not found: give --authors the folder of the authors' repository at c4514393")
    spec = importlib.util.spec_from_file_location("authors_resnet_cifar10", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _EpochTimes(Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_epoch(self, trainer, record, snapshot) -> None:
        if record.epoch_seconds is not None:
            self.seconds.append(record.epoch_seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", type=Path, default=Path(os.environ.get("FFVIZ_AUTHORS_DIR", "/tmp/CAW-Conv")))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each side per round")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    machine = machine_description()
    print(f"machine: {machine}; torch {torch.__version__}, {args.threads} threads", flush=True)
    started = time.time()
    load0 = os.getloadavg()[0]

    cfg = recipe_config("side-by-side", device="cpu", epochs=args.rounds * args.epochs)
    times = _EpochTimes()
    ours = Trainer(cfg, callbacks=[times])
    data = ours.data
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.train_x, data.train_y),
                                         batch_size=cfg.batch_size, shuffle=True, num_workers=0)

    scratch = Path(tempfile.mkdtemp(prefix="ffviz-vs-authors-"))
    cwd = Path.cwd()
    os.chdir(scratch)
    try:
        authors = load_authors(args.authors.resolve())
        torch.manual_seed(cfg.seed)
        net = authors.Resnet(in_channels=data.in_channels, num_class=data.num_classes, dropout=cfg.dropout,
                             planes=list(WIDTHS), learning_rate=cfg.lr, lr_min=cfg.lr_min,
                             weight_decay=cfg.weight_decay, devices=[torch.device("cpu")],
                             epochs=args.rounds * args.epochs)
        authors.model = net  # its update() reads the script's global ``model``, as its __main__ sets it
        theirs: list[float] = []
        ours._fire("on_start", ours)
        ours._end_of_epoch(train=None)
        epoch = 0
        for r in range(args.rounds):
            for _ in range(args.epochs):  # the authors' epoch, as their script runs and times it
                for layer in net.layers:
                    layer.update_epoch(epoch)
                authors.current_epoch = epoch
                net.train()
                t0 = time.time()
                net.update(loader)
                theirs.append(time.time() - t0)
                epoch += 1
            for _ in range(args.epochs):  # ffviz's epoch: the trainer's own loop, evaluation after it untimed
                train = ours._train_epoch()
                ours.epoch += 1
                ours._end_of_epoch(train=train)
            print(f"round {r + 1}: authors {statistics.median(theirs[-args.epochs:]):.2f} s/epoch, ffviz "
                  f"{statistics.median(times.seconds[-args.epochs:]):.2f} s/epoch", flush=True)
    finally:
        os.chdir(cwd)
    a, f = statistics.median(theirs), statistics.median(times.seconds)
    ratio = a / f
    per_round = [statistics.median(theirs[i * args.epochs:(i + 1) * args.epochs]) /
                 statistics.median(times.seconds[i * args.epochs:(i + 1) * args.epochs]) for i in range(args.rounds)]
    print(f"authors / ffviz: {ratio:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in per_round)})", flush=True)
    if args.no_report:
        return 0
    body = (f"Machine: {machine}; torch {torch.__version__}, {args.threads} threads. Measured "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(started))} in {time.time() - started:.0f} s; load "
            f"average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n\n"
            f"Command: `python bench/vs_authors.py --rounds {args.rounds} --epochs {args.epochs}` with the authors' "
            "repository at c4514393, imported unmodified from its own folder.\n\n"
            "Side-by-side set-up: digits 16x16, 1 channel, widths 20/40/80/160 (17 layers), batch 32, seed 2222. "
            f"{args.rounds} alternating rounds of {args.epochs} training epochs each side, one process.\n\n"
            "| | training s / epoch (median) | per round |\n| --- | --- | --- |\n"
            f"| authors' ResNet_CIFAR10.py | {a:.2f} | " +
            ", ".join(f"{statistics.median(theirs[i * args.epochs:(i + 1) * args.epochs]):.2f}"
                      for i in range(args.rounds)) + " |\n"
            f"| ffviz (side-by-side recipe) | {f:.2f} | " +
            ", ".join(f"{statistics.median(times.seconds[i * args.epochs:(i + 1) * args.epochs]):.2f}"
                      for i in range(args.rounds)) + " |\n\n"
            f"**authors / ffviz: {ratio:.2f}x** (per round: {', '.join(f'{x:.2f}' for x in per_round)}; goal "
            ">= 2.0).")
    write_section("vs-authors", "CPU: ffviz against the authors' code, side by side", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
