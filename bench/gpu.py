"""GPU benchmark: the paper's ResNet-17 trained Forward-Forward and with backprop, and bf16 against fp32 on real data.

    python bench/gpu.py                      # one go on an H100/H200, about 4 minutes, nothing to download
    python bench/gpu.py --smoke              # tiny sizes on any device, to check the script (a minute on a CPU)
    python bench/gpu.py --report bench/out/gpu.json   # write a result file's figures into bench/REPORT.md

What it measures, on 49,000 random CIFAR-shaped images (3x32x32, 10 classes; speed does not depend on the pixels):
1. FF (fused step) and backprop on the same ResNet-17 (widths 100/200/400/800, batch 128, bf16 autocast,
   channels-last), alternating in one process: images/s, seconds per 49,000-image epoch, and the step's peak GPU
   memory above what stays resident (weights, optimizer state, data); the same for FF's memory-lean step and fp32;
2. one real epoch of each through Trainer._train_epoch (batch gathering on the GPU included), and one large-batch
   evaluation of 10,000 test images without gradients;
3. torch.compile against eager: time to the end of the first epoch (compilation included) and steady-state speed;
4. real learning: digits at 3x32x32 with the paper widths, bf16 against fp32, same seeds: final test accuracy.
Results go to --out (JSON, rewritten after every section, so a run cut short keeps what it measured) and, with
--report, to the "speed-gpu" section of bench/REPORT.md.
"""

from __future__ import annotations

import argparse
import json
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

from ffviz.config import RunConfig  # noqa: E402
from ffviz.data import DataSplits  # noqa: E402
from ffviz.method.trainer import Callback, Trainer  # noqa: E402

PAPER_WIDTHS = (100, 200, 400, 800)
N_TRAIN, N_TEST, BATCH = 49_000, 10_000, 128
SECTION = "speed-gpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_cifar(n_train: int, n_test: int, device: torch.device, seed: int = 0) -> DataSplits:
    """CIFAR-shaped random data, made on the device (nothing to download)."""
    gen = torch.Generator(device).manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(n, 3, 32, 32, generator=gen, device=device),
                torch.randint(0, 10, (n,), generator=gen, device=device))

    (tx, ty), (vx, vy), (sx, sy) = split(n_train), split(1000), split(n_test)
    return DataSplits(name="random-cifar", train_x=tx, train_y=ty, val_x=vx, val_y=vy, test_x=sx, test_y=sy,
                      num_classes=10, class_names=tuple(str(k) for k in range(10)), mean=(0.0,) * 3, std=(1.0,) * 3)


def make_cfg(args: argparse.Namespace, **changes) -> RunConfig:
    base = dict(dataset="cifar10", widths=args.widths, batch_size=BATCH if not args.smoke else 16, epochs=150,
                device=args.device, bf16=True, channels_last=True, compile=False, seed=2222,
                batch_log_every=10 ** 6, eval_batch_size=1000, probe_size=100)
    return RunConfig(**{**base, **changes})


def batches(data: DataSplits, batch: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    idx = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))[: batch * count]
    idx = idx.to(data.train_x.device)
    return [(data.train_x[idx[i * batch:(i + 1) * batch]], data.train_y[idx[i * batch:(i + 1) * batch]])
            for i in range(count)]


def prepare(tr: Trainer, x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if tr.channels_last else x


def steps_per_sec(tr: Trainer, pool: list, n: int) -> float:
    """Images per second over n training steps (after the caller's warm-up)."""
    sync(tr.device)
    t0 = time.perf_counter()
    for i in range(n):
        x, y = pool[i % len(pool)]
        tr._step(prepare(tr, x), y, 0.5)
    sync(tr.device)
    return n * len(pool[0][1]) / (time.perf_counter() - t0)


def step_memory(tr: Trainer, pool: list) -> dict:
    """Peak memory of one training step above what stays allocated between steps (MiB), and the absolute peak."""
    x, y = pool[0]
    x = prepare(tr, x)
    tr._step(x, y, 0.5)
    if tr.device.type != "cuda":
        return {"step_peak_mib": None, "peak_mib": None}
    tr.optimizer.zero_grad(set_to_none=True)
    sync(tr.device)
    torch.cuda.reset_peak_memory_stats(tr.device)
    base = torch.cuda.memory_allocated(tr.device)
    tr._step(x, y, 0.5)
    sync(tr.device)
    peak = torch.cuda.max_memory_allocated(tr.device)
    return {"step_peak_mib": (peak - base) / 2 ** 20, "peak_mib": peak / 2 ** 20, "resident_mib": base / 2 ** 20}


def timed_epoch(tr: Trainer) -> float:
    sync(tr.device)
    t0 = time.perf_counter()
    tr._train_epoch()
    tr.epoch += 1
    sync(tr.device)
    return time.perf_counter() - t0


class Results:
    def __init__(self, path: Path, meta: dict) -> None:
        self.path, self.data = path, {"meta": meta}
        self.t0 = time.perf_counter()

    def put(self, key: str, value) -> None:
        self.data[key] = value
        self.data["meta"]["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1))
        print(f"[{self.data['meta']['elapsed_s']:6.1f} s] {key}: {json.dumps(value)}", flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


# ---------------------------------------------------------------------------------------------------- sections
def throughput_section(args: argparse.Namespace, res: Results, data: DataSplits) -> None:
    """FF against backprop (and FF lean, fp32), alternating: images/s and step memory."""
    variants = {"ff": {}, "backprop": {"mode": "backprop"}, "ff-lean": {"ff_step": "lean"},
                "ff-fp32": {"bf16": False}, "backprop-fp32": {"mode": "backprop", "bf16": False}}
    pool = batches(data, make_cfg(args).batch_size, 8)
    trainers = {}
    for name, changes in variants.items():
        tr = Trainer(make_cfg(args, **changes), data=data)
        mem = step_memory(tr, pool)
        steps_per_sec(tr, pool, args.warmup)
        trainers[name] = tr
        res.put(f"memory/{name}", mem)
    speeds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):  # alternate, so that a slow moment hits every variant alike
        for name, tr in trainers.items():
            speeds[name].append(steps_per_sec(tr, pool, args.steps))
    for name in variants:
        ips = statistics.median(speeds[name])
        res.put(f"speed/{name}", {"images_per_s": ips, "epoch_s": N_TRAIN / ips, "rounds": speeds[name]})
    res.put("ratio/ff_over_backprop", speeds_ratio(speeds, "ff", "backprop"))
    res.put("ratio/ff_over_backprop_fp32", speeds_ratio(speeds, "ff-fp32", "backprop-fp32"))
    # one real epoch each, through the trainer's own loop
    n = len(data.train_y)
    for name in ("ff", "backprop"):
        seconds = timed_epoch(trainers[name])
        res.put(f"epoch/{name}", {"seconds": seconds, "images": n, "images_per_s": n / seconds})
    tr = trainers["ff"]
    sync(tr.device)
    t0 = time.perf_counter()
    tr._goodness(data.test_x)
    sync(tr.device)
    res.put("eval/test_10000", {"seconds": time.perf_counter() - t0, "images": len(data.test_y)})
    del trainers
    if data.train_x.device.type == "cuda":
        torch.cuda.empty_cache()


def speeds_ratio(speeds: dict, a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(speeds[a], speeds[b], strict=True))


def graph_section(args: argparse.Namespace, res: Results, data: DataSplits) -> None:
    """compile=True (the whole step captured as one CUDA graph) against eager: first epoch (capture included) and
    steady-state speed, FF and backprop alternating; then the same with torch.compile inside the graph."""
    pool = batches(data, make_cfg(args).batch_size, 8)
    if args.device != "cuda":
        return
    trainers = {}
    for name, changes in (("ff", {}), ("backprop", {"mode": "backprop"})):
        tr = Trainer(make_cfg(args, compile=True, **changes), data=data)
        first = timed_epoch(tr)
        res.put(f"graph/{name}/first_epoch", {"seconds": first, "graph_error": tr.graph_error,
                                              "memory": step_memory(tr, pool)})
        trainers[name] = tr
    speeds: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, tr in trainers.items():
            speeds[name].append(steps_per_sec(tr, pool, args.steps))
    for name, tr in trainers.items():
        ips = statistics.median(speeds[name])
        res.put(f"graph/{name}", {"images_per_s": ips, "epoch_s": N_TRAIN / ips, "rounds": speeds[name],
                                  "epoch_2_s": timed_epoch(tr), "graph_error": tr.graph_error})
    res.put("ratio/graph_ff_over_backprop", speeds_ratio(speeds, "ff", "backprop"))
    del trainers
    torch.cuda.empty_cache()


def inductor_section(args: argparse.Namespace, res: Results, data: DataSplits) -> None:
    """torch.compile (inductor) of the forward and backward, alone and inside the captured step."""
    pool = batches(data, make_cfg(args).batch_size, 8)
    for name, graph in (("ff-inductor-graph", True), ("ff-inductor", False)):
        if res.elapsed() > args.compile_deadline:
            res.put(f"compile/{name}", {"skipped": f"past the {args.compile_deadline:.0f} s deadline"})
            continue
        tr = Trainer(make_cfg(args, compile=graph), data=data)
        tr.model.set_generator(None)  # torch.compile takes no generator arguments: the global RNG draws the masks
        tr._fused_losses = torch.compile(tr._losses)
        first = timed_epoch(tr)
        ips = statistics.median(steps_per_sec(tr, pool, args.steps) for _ in range(args.rounds))
        res.put(f"compile/{name}", {"first_epoch_s": first, "images_per_s": ips, "epoch_s": N_TRAIN / ips,
                                    "graph_error": tr.graph_error})
        del tr


def profile_section(args: argparse.Namespace, res: Results, data: DataSplits) -> None:
    """Where an eager FF step's time goes: GPU kernel time against wall time, and the top kernels."""
    from torch.profiler import ProfilerActivity, profile

    pool = batches(data, make_cfg(args).batch_size, 4)
    tr = Trainer(make_cfg(args), data=data)
    steps_per_sec(tr, pool, 3)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    sync(tr.device)
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        steps_per_sec(tr, pool, 5)
    wall = time.perf_counter() - t0

    def dev_time(e) -> float:
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0.0)

    events = [e for e in prof.key_averages() if dev_time(e) > 0]
    kernel_ms = sum(dev_time(e) for e in events) / 1e3
    top = sorted(events, key=dev_time, reverse=True)[:12]
    cpu_ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::")) / 5
    res.put("profile/ff-eager", {
        "wall_ms_per_step": 1e3 * wall / 5, "gpu_ms_per_step": kernel_ms / 5, "aten_ops_per_step": cpu_ops,
        "top_kernels_ms_per_step": {e.key[:80]: round(dev_time(e) / 5e3, 3) for e in top}})
    del tr


class _TestResult(Callback):
    def __init__(self) -> None:
        self.test = None

    def on_end(self, trainer: Trainer, status: str, test) -> None:
        self.test = test


def digits_32(device: torch.device) -> DataSplits:
    """Digits at 3x32x32 (scikit-learn's bundled set); from bench/out/digits32.pt when scikit-learn is absent."""
    try:
        from ffviz.data import load_dataset
        return load_dataset("digits", image_size=32, channels=3)
    except Exception:  # scikit-learn missing on the GPU machine
        saved = torch.load(Path(__file__).resolve().parent / "out" / "digits32.pt")
        return DataSplits(**saved)


def learning_section(args: argparse.Namespace, res: Results) -> None:
    """Real learning: bf16 against fp32 on digits 3x32x32, paper widths, same seeds (and bf16 with the captured
    step, to check that it learns as eager does)."""
    data = digits_32(torch.device(args.device))
    runs = [(seed, bf16, False) for seed in range(1, args.seeds + 1) for bf16 in (True, False)]
    runs += [(1, True, True)] if args.device == "cuda" else []
    for seed, bf16, graph in runs:
        cfg = make_cfg(args, dataset="digits", image_size=32, channels=3, batch_size=32, compile=graph,
                       epochs=args.digits_epochs, bf16=bf16, seed=seed, eval_batch_size=500)
        got = _TestResult()
        t0 = time.perf_counter()
        tr = Trainer(cfg, data=data, callbacks=[got])
        status = tr.fit()
        res.put(f"digits/seed{seed}/{'bf16' if bf16 else 'fp32'}{'-graph' if graph else ''}", {
            "status": status, "error": tr.error, "epochs": tr.epoch, "graph_error": tr.graph_error,
            "test_acc": None if got.test is None else got.test.acc_alpha, "seconds": time.perf_counter() - t0})


# ------------------------------------------------------------------------------------------------------ report
def report(path: Path) -> None:
    from bench.report import write_section

    r = json.loads(Path(path).read_text())
    meta = r["meta"]
    rows = ["| variant | images/s | s / epoch of 49,000 | step peak memory above resident |",
            "| --- | --- | --- | --- |"]
    for name in ("ff", "backprop", "ff-lean", "ff-fp32", "backprop-fp32"):
        sp, mem = r.get(f"speed/{name}"), r.get(f"memory/{name}") or {}
        if sp:
            m = mem.get("step_peak_mib")
            rows.append(f"| {name} | {sp['images_per_s']:,.0f} | {sp['epoch_s']:.2f} | "
                        f"{'n/a' if m is None else f'{m:,.0f} MiB'} |")
    lines = [f"Machine: {meta['device']}; torch {meta['torch']}, CUDA {meta['cuda']}, Python {meta['python']}. "
             f"Measured {meta['date']}, whole script {meta.get('elapsed_s', '?')} s.", "",
             f"Command: `{meta['command']}`", "",
             "ResNet-17 (widths 100/200/400/800, 17 CAW-Conv layers, 30.7M parameters) on 49,000 random "
             "3x32x32 images, batch 128, bf16 autocast and channels-last unless marked fp32, eager. Speeds are "
             f"medians of {meta['rounds']} alternating rounds of {meta['steps']} steps.", "", *rows, ""]
    if "ratio/ff_over_backprop" in r:
        lines.append(f"FF / backprop images/s: **{r['ratio/ff_over_backprop']:.2f}x** in bf16, "
                     f"{r.get('ratio/ff_over_backprop_fp32', float('nan')):.2f}x in fp32.")
    for name in ("ff", "backprop"):
        e = r.get(f"epoch/{name}")
        if e:
            lines.append(f"- One real epoch ({name}, Trainer._train_epoch, 49,000 images): **{e['seconds']:.2f} s** "
                         f"({e['images_per_s']:,.0f} images/s); 150 epochs: {150 * e['seconds'] / 60:.1f} min.")
    if "eval/test_10000" in r:
        lines.append(f"- Evaluation of 10,000 test images, all 17 layers, no gradients: "
                     f"{r['eval/test_10000']['seconds']:.2f} s.")
    lines += ["", "Whole step captured as one CUDA graph (`--compile`, the trainer's `_GraphedStep`), same set-up:", "",
              "| variant | images/s | s / epoch of 49,000 (from images/s) | measured epoch | first epoch (capture "
              "included) | memory |", "| --- | --- | --- | --- | --- | --- |"]
    for name in ("ff", "backprop"):
        g, f = r.get(f"graph/{name}"), r.get(f"graph/{name}/first_epoch") or {}
        if g:
            m = (f.get("memory") or {}).get("peak_mib")
            lines.append(f"| {name} | {g['images_per_s']:,.0f} | {g['epoch_s']:.2f} | {g['epoch_2_s']:.2f} s | "
                         f"{f.get('seconds', float('nan')):.2f} s | "
                         f"{'n/a' if m is None else f'all in the graph pool: {m:,.0f} MiB in total'} |")
        if g and g.get("graph_error"):
            lines.append(f"| {name}: capture failed, eager fallback: {g['graph_error'][:200]} | | | | | |")
    if "ratio/graph_ff_over_backprop" in r:
        lines += ["", f"FF / backprop images/s with the captured step: **{r['ratio/graph_ff_over_backprop']:.2f}x**."]
    for name in ("ff-inductor-graph", "ff-inductor"):
        c = r.get(f"compile/{name}")
        if c and "skipped" not in c:
            lines.append(f"- torch.compile ({name}): first epoch {c['first_epoch_s']:.1f} s (compilation included), "
                         f"then {c['images_per_s']:,.0f} images/s = {c['epoch_s']:.2f} s per epoch.")
        elif c:
            lines.append(f"- torch.compile ({name}): {c['skipped']}.")
    prof = r.get("profile/ff-eager")
    if prof:
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(prof["top_kernels_ms_per_step"].items())[:6])
        lines.append(f"- Eager FF step, profiled: {prof['wall_ms_per_step']:.1f} ms wall per step, of which "
                     f"{prof['gpu_ms_per_step']:.1f} ms of GPU time (operators and kernels both counted, so an "
                     f"upper bound); {prof['aten_ops_per_step']:.0f} aten calls per step (nested calls included); "
                     f"top entries, ms per step: {top}.")
    digits = sorted(k for k in r if k.startswith("digits/"))
    if digits:
        lines += ["", f"Real learning, digits 3x32x32 (1,257 train / 360 test), paper widths, batch 32, "
                  f"{meta['digits_epochs']} epochs, final test accuracy (alpha ensemble):", "",
                  "| seed | bf16 | fp32 | bf16, captured step |", "| --- | --- | --- | --- |"]
        for seed in sorted({k.split("/")[1] for k in digits}):
            def acc(p: str, s: str = seed) -> str:
                v = r.get(f"digits/{s}/{p}", {}).get("test_acc")
                return "n/a" if v is None else f"{v:.2f}%"
            lines.append(f"| {seed[4:]} | {acc('bf16')} | {acc('fp32')} | {acc('bf16-graph')} |")
    if r.get("notes"):
        lines += ["", r["notes"]]
    write_section(SECTION, "GPU speed (issue 5: bench/gpu.py)", "\n".join(lines))
    print("\n".join(lines))


# -------------------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on any device, to check the script")
    ap.add_argument("--out", default=None, help="result JSON (default $OUT/gpu.json or bench/out/gpu.json)")
    ap.add_argument("--report", metavar="JSON", help="only write this result file into bench/REPORT.md")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: throughput,graph,profile,"
                    "learning,compile")
    ap.add_argument("--compile-deadline", type=float, default=200.0,
                    help="skip a compile measurement that would start later than this many seconds into the run")
    args = ap.parse_args()
    if args.report:
        report(Path(args.report))
        return
    out = Path(args.out or (Path(os.environ["OUT"]) / "gpu.json" if os.environ.get("OUT")
                            else Path(__file__).resolve().parent / "out" / "gpu.json"))
    cuda = torch.cuda.is_available()
    args.device = "cuda" if cuda else "cpu"
    args.widths = (10, 20, 40, 80) if args.smoke else PAPER_WIDTHS
    args.steps, args.rounds, args.warmup = (3, 2, 1) if args.smoke else (40, 3, 10)
    args.seeds, args.digits_epochs = (1, 1) if args.smoke else (2, 12)
    n_train, n_test = (512, 256) if args.smoke else (N_TRAIN, N_TEST)
    if cuda:
        torch.backends.cudnn.benchmark = True
    device_name = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or 'unknown'})"
    meta = {"device": device_name, "torch": torch.__version__, "cuda": torch.version.cuda, "smoke": args.smoke,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "command": "python bench/gpu.py " + " ".join(a for a in sys.argv[1:]), "steps": args.steps,
            "rounds": args.rounds, "digits_epochs": args.digits_epochs, "n_train": n_train}
    res = Results(out, meta)
    skip = set(filter(None, args.skip.split(",")))
    data = random_cifar(n_train, n_test, torch.device(args.device))
    for name, section in (("throughput", lambda: throughput_section(args, res, data)),
                          ("graph", lambda: graph_section(args, res, data)),
                          ("profile", lambda: profile_section(args, res, data)),
                          ("learning", lambda: learning_section(args, res)),
                          ("compile", lambda: inductor_section(args, res, data))):
        if name in skip:
            continue
        try:
            section()
        except Exception as e:  # keep what the other sections measure
            res.put(f"error/{name}", f"{type(e).__name__}: {e}")
    print(f"done in {res.elapsed():.1f} s; results in {out}", flush=True)


if __name__ == "__main__":
    main()
