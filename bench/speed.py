"""CPU benchmark: Forward-Forward against backprop on the same network and data, and the published side-by-side set-up.

    python bench/speed.py                  # everything: about 20 minutes on 2 cores
    python bench/speed.py --quick          # a quick look: fewer rounds, 1 seed, 2 epochs
    python bench/speed.py --only memory    # one part: speed, memory, side-by-side or floor

1. Speed: FF (fused step) and backprop on the same network, the same batches, in one process, alternating round by
   round (a busy moment of a shared machine then hits both alike): images/s of training steps, for the classroom
   preset and the side-by-side widths on digits 16x16, the paper's widths (100/200/400/800) on digits 16x16, and the
   paper's widths on 3x32x32 inputs (random; speed does not depend on the pixels).
2. Memory: the bytes of activations autograd keeps for backward during one training step at batch 128, counted
   exactly through torch.autograd.graph.saved_tensors_hooks (a storage counts once, from the moment the first graph
   saves it until the last graph holding it is freed): FF fused, FF memory-lean, backprop.
3. Side-by-side (the authors' CPU comparison): digits 16x16, widths 20/40/80/160, batch 32, 20 epochs, 3 seeds:
   seconds per epoch and the final test accuracy. The authors' code takes 2.7 s per epoch on a 2-core CPU.
4. Floor (its own section): a side-by-side step against its 17 convolutions alone, alternating: what the rest of the
   step costs, and the floor the convolutions put under an epoch on this CPU.
Prints everything and writes each part's section of bench/REPORT.md (cpu-ff-vs-backprop, cpu-memory,
cpu-side-by-side, cpu-floor), with the machine and the command.
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

# isort: off
from ffviz.runner import threads  # noqa: E402

threads.apply(threads.plan(threads.requested_threads(sys.argv)))  # before torch loads: ffviz/runner/threads.py
import torch  # noqa: E402
# isort: on

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.config import RunConfig  # noqa: E402
from ffviz.data import DataSplits, load_dataset  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402

PAPER = (100, 200, 400, 800)
SIDE_BY_SIDE = (20, 40, 80, 160)
CLASSROOM = (20, 40)
AUTHORS_EPOCH_S = 2.7


def random_3x32(n: int = 1280, seed: int = 0) -> DataSplits:
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 3, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen)
    return DataSplits(name="random-3x32", train_x=x, train_y=y, val_x=x[:100], val_y=y[:100], test_x=x[:100],
                      test_y=y[:100], num_classes=10, class_names=tuple("0123456789"), mean=(0.0,) * 3,
                      std=(1.0,) * 3)


def cfg_for(widths: tuple[int, ...], batch: int, **changes) -> RunConfig:
    return RunConfig(**{**dict(dataset="digits", widths=widths, batch_size=batch, device="cpu", epochs=20,
                               batch_log_every=10 ** 6), **changes})


def pool_of(data: DataSplits, batch: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    idx = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))
    return [(data.train_x[idx[i * batch:(i + 1) * batch]], data.train_y[idx[i * batch:(i + 1) * batch]])
            for i in range(count)]


def images_per_s(tr: Trainer, pool: list, steps: int) -> tuple[float, float]:
    """Training images per second of wall time, and per second of this process's CPU time (which a busy machine
    disturbs much less: time slices given to other processes do not count)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        x, y = pool[i % len(pool)]
        tr._step(x, y, 0.5)
    n = steps * len(pool[0][1])
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


# --------------------------------------------------------------------------------------------------- memory
class _Saved:
    """A tensor autograd keeps for backward; its storage's bytes count while any graph holds it."""

    def __init__(self, t: torch.Tensor, ledger: dict) -> None:
        self.t, self.ledger, self.key = t, ledger, t.untyped_storage().data_ptr()
        if ledger["refs"].get(self.key, 0) == 0:
            ledger["now"] += t.untyped_storage().nbytes()
            ledger["peak"] = max(ledger["peak"], ledger["now"])
        ledger["refs"][self.key] = ledger["refs"].get(self.key, 0) + 1

    def __del__(self) -> None:
        self.ledger["refs"][self.key] -= 1
        if self.ledger["refs"][self.key] == 0:
            self.ledger["now"] -= self.t.untyped_storage().nbytes()


def saved_activation_peak(tr: Trainer, x: torch.Tensor, y: torch.Tensor) -> int:
    """Peak bytes autograd keeps for backward during one training step (forward, backward, optimizer step)."""
    ledger = {"now": 0, "peak": 0, "refs": {}}
    with torch.autograd.graph.saved_tensors_hooks(lambda t: _Saved(t, ledger), lambda s: s.t):
        tr._step(x, y, 0.5)
    return ledger["peak"]


# ---------------------------------------------------------------------------------------------------- parts
def speed_part(args: argparse.Namespace, digits16: DataSplits) -> list[str]:
    setups = [("classroom (20/40), digits 16x16", CLASSROOM, digits16, 32),
              ("side-by-side (20/40/80/160), digits 16x16", SIDE_BY_SIDE, digits16, 32),
              ("paper widths (100/200/400/800), digits 16x16", PAPER, digits16, 32),
              ("paper widths (100/200/400/800), 3x32x32", PAPER, random_3x32(), 32)]
    rows = ["| network, data | batch | FF images/s | backprop images/s | FF / backprop (wall) | FF / backprop "
            "(CPU time) |", "| --- | --- | --- | --- | --- | --- |"]
    for name, widths, data, batch in setups:
        heavy = widths == PAPER
        steps = max(1, args.steps // (4 if heavy else 1))
        pool = pool_of(data, batch, 4)
        ff = Trainer(cfg_for(widths, batch), data=data)
        bp = Trainer(cfg_for(widths, batch, mode="backprop"), data=data)
        for tr in (ff, bp):
            images_per_s(tr, pool, 1)  # warm-up: oneDNN primitives, optimizer state
        speeds = {"ff": [], "bp": []}
        for _ in range(args.rounds):
            speeds["ff"].append(images_per_s(ff, pool, steps))
            speeds["bp"].append(images_per_s(bp, pool, steps))
        ratio = statistics.median(a[0] / b[0] for a, b in zip(speeds["ff"], speeds["bp"], strict=True))
        ratio_cpu = statistics.median(a[1] / b[1] for a, b in zip(speeds["ff"], speeds["bp"], strict=True))
        f, b = statistics.median(v[0] for v in speeds["ff"]), statistics.median(v[0] for v in speeds["bp"])
        print(f"speed  {name}: FF {f:.1f} img/s, backprop {b:.1f} img/s, ratio {ratio:.2f} (CPU time {ratio_cpu:.2f}) "
              f"(rounds: FF {[round(v[0]) for v in speeds['ff']]}, BP {[round(v[0]) for v in speeds['bp']]})",
              flush=True)
        rows.append(f"| {name} | {batch} | {f:,.1f} | {b:,.1f} | {ratio:.2f}x | **{ratio_cpu:.2f}x** |")
    return rows


def memory_part(args: argparse.Namespace, digits16: DataSplits) -> list[str]:
    setups = [("classroom (20/40), digits 16x16", CLASSROOM, digits16),
              ("paper widths (100/200/400/800), digits 16x16", PAPER, digits16),
              ("paper widths (100/200/400/800), 3x32x32", PAPER, random_3x32(256))]
    rows = ["| network, data (batch 128) | FF fused | FF lean | backprop | lean / backprop | fused / backprop |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, widths, data in setups:
        x, y = data.train_x[:128], data.train_y[:128]
        mib = {}
        for key, changes in (("fused", {}), ("lean", {"ff_step": "lean"}), ("bp", {"mode": "backprop"})):
            tr = Trainer(cfg_for(widths, 128, **changes), data=data)
            mib[key] = saved_activation_peak(tr, x, y) / 2 ** 20
        print(f"memory {name}: fused {mib['fused']:.1f} MiB, lean {mib['lean']:.1f} MiB, backprop {mib['bp']:.1f} "
              f"MiB", flush=True)
        rows.append(f"| {name} | {mib['fused']:.1f} MiB | {mib['lean']:.1f} MiB | {mib['bp']:.1f} MiB | "
                    f"**{mib['lean'] / mib['bp']:.2f}** | {mib['fused'] / mib['bp']:.2f} |")
    return rows


class _Times(Callback):
    def __init__(self) -> None:
        self.epoch_s: list[float] = []
        self.test = None

    def on_epoch(self, trainer, record, snapshot) -> None:
        if record.epoch_seconds is not None:
            self.epoch_s.append(record.epoch_seconds)

    def on_end(self, trainer, status, test) -> None:
        self.test = test


def side_by_side_part(args: argparse.Namespace, digits16: DataSplits) -> list[str]:
    rows = ["| seed | s / epoch (median; training batches) | s / epoch with validation (wall / epochs) | "
            "CPU s / epoch with validation | test accuracy |", "| --- | --- | --- | --- | --- |"]
    accs, secs, walls, cpus = [], [], [], []
    for seed in range(1, args.seeds + 1):
        cb = _Times()
        t0, c0 = time.perf_counter(), time.process_time()
        Trainer(cfg_for(SIDE_BY_SIDE, 32, image_size=16, channels=1, epochs=args.epochs, seed=seed),
                data=digits16, callbacks=[cb]).fit()
        wall = (time.perf_counter() - t0) / args.epochs
        cpu = (time.process_time() - c0) / args.epochs
        cpus.append(cpu)
        sec = statistics.median(cb.epoch_s)
        accs.append(cb.test.acc_alpha)
        secs.append(sec)
        walls.append(wall)
        print(f"side-by-side seed {seed}: {sec:.2f} s/epoch ({wall:.2f} with validation, {cpu:.2f} CPU s), test "
              f"{cb.test.acc_alpha:.2f}%", flush=True)
        rows.append(f"| {seed} | {sec:.2f} | {wall:.2f} | {cpu:.2f} | {cb.test.acc_alpha:.2f}% |")
    rows.append(f"| **mean** | **{statistics.mean(secs):.2f}** | {statistics.mean(walls):.2f} | "
                f"{statistics.mean(cpus):.2f} | **{statistics.mean(accs):.2f}%** |")
    rows += ["", f"Authors' code: {AUTHORS_EPOCH_S} s per epoch on a 2-core CPU; here "
             f"{AUTHORS_EPOCH_S / statistics.mean(secs):.2f}x that speed ({args.epochs} epochs, {args.seeds} seeds)."]
    return rows


def floor_part(args: argparse.Namespace, digits16: DataSplits) -> list[str]:
    """The side-by-side step against its convolutions alone (forward and weight gradient of the 17 convs, the same
    shapes, layouts and oneDNN calls), alternating: what the rest of the step costs, and the floor that the
    convolutions put under an epoch on this CPU."""
    tr = Trainer(cfg_for(SIDE_BY_SIDE, 32), data=digits16)
    pool = pool_of(digits16, 32, 4)
    inputs = []  # (conv, its input exactly as the step gives it)
    hooks = [layer.conv.register_forward_hook(lambda m, a, out: inputs.append((m, a[0].detach())))
             for layer in tr.model.layers]
    tr._step(*pool[0], 0.5)
    for h in hooks:
        h.remove()
    grads = [torch.randn_like(conv(x)) for conv, x in inputs]

    def convs_only() -> None:
        for (conv, x), g in zip(inputs, grads, strict=True):
            conv(x).backward(g)  # x needs no gradient: the weight gradient alone, as in the FF step

    def timed(fn, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        return (time.perf_counter() - t0) / steps

    step = lambda: tr._step(*pool[0], 0.5)  # noqa: E731
    timed(step, 2), timed(convs_only, 2)
    full, conv = [], []
    for _ in range(3 * args.rounds):  # cheap: more rounds, so that the best of them finds a quiet moment
        full.append(timed(step, args.steps))
        conv.append(timed(convs_only, args.steps))
    per_epoch = -(-1257 // 32)  # batches in an epoch of the side-by-side split
    f, c = min(full), min(conv)
    print(f"floor  side-by-side step {1000 * f:.1f} ms, its convolutions alone {1000 * c:.1f} ms (best of "
          f"{len(full)} rounds)", flush=True)
    return ["| per training step (batch 32), best of rounds | ms | s per epoch of 1,257 images (40 steps) |",
            "| --- | --- | --- |",
            f"| the whole FF step | {1000 * f:.1f} | {per_epoch * f:.2f} |",
            f"| its 17 convolutions alone: forward and weight gradient | {1000 * c:.1f} | **{per_epoch * c:.2f}** |",
            f"| everything else (norms, pooling, dropout, W, losses, clipping, AdamW) | {1000 * (f - c):.1f} | "
            f"{per_epoch * (f - c):.2f} |"]


# Each part owns a section of bench/REPORT.md: rerunning one part (--only) refreshes its section alone.
PARTS = {
    "speed": ("cpu-ff-vs-backprop", "CPU: FF against backprop, training images/s (bench/speed.py)", speed_part,
              "Alternating rounds, medians. The CPU-time ratio divides images by this process's CPU seconds (both "
              "threads): on a shared machine it is the steadier of the two, since time given to other processes "
              "does not count."),
    "memory": ("cpu-memory", "CPU: activation memory of one training step (bench/speed.py)", memory_part,
               "Method: bytes of the tensors autograd saves for backward, counted exactly with "
               "`torch.autograd.graph.saved_tensors_hooks` (each storage once, while a graph holds it); the weights, "
               "gradients and optimizer state are the same in every column and not counted."),
    "side-by-side": ("cpu-side-by-side", "CPU: the side-by-side set-up, digits 16x16, widths 20/40/80/160, batch 32 "
                     "(bench/speed.py)", side_by_side_part, ""),
    "floor": ("cpu-floor", "CPU: where a side-by-side step goes (bench/speed.py)", floor_part,
              "The convolutions alone (oneDNN, the same calls the step makes) set the floor of an epoch on this CPU, "
              "whatever the rest of the step costs."),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, 1 seed, 2 epochs")
    ap.add_argument("--only", choices=tuple(PARTS), default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: PyTorch's, = cores)")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.rounds, args.steps = (2, 4) if args.quick else (5, 12)
    args.seeds, args.epochs = (1, 2) if args.quick else (3, 20)
    digits16 = load_dataset("digits", image_size=16, channels=1)
    cmd = ("python bench/speed.py " + " ".join(sys.argv[1:])).strip()
    for name, (section, title, part, note) in PARTS.items():
        if args.only not in (None, name):
            continue
        load_start, t0 = os.getloadavg(), time.perf_counter()
        rows = part(args, digits16)
        load_end = os.getloadavg()
        body = "\n".join([
            f"Machine: {machine_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"Python {platform.python_version()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. Measured "
            f"{time.strftime('%Y-%m-%d %H:%M')} in {time.perf_counter() - t0:.0f} s; load average "
            f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end (the machine is shared: absolute "
            f"figures vary with its load, the alternating ratios much less).", "", f"Command: `{cmd}`", "",
            *rows, "", note])
        print(f"## {title}\n\n{body}\n", flush=True)
        if not args.no_report:
            write_section(section, title, body)


if __name__ == "__main__":
    main()
