"""What one training step of a CLI run costs, part by part, in ms: the profile behind bench/REPORT.md's "step
profile" section.

    python bench/step_profile.py --threads 1                     # side-by-side and 32x32 set-ups, 30 steps each

It runs in a process of its own set up as ``python -m ffviz train`` sets one up (the thread plan applied before torch
loads: ffviz/runner/threads.py), builds the run's Trainer from the side-by-side recipe, trains one warm-up epoch, then
records ``--steps`` steps with torch.profiler and adds up each operator's own CPU time under the part it belongs to.
"Python and dispatch" is the step's wall time that no operator accounts for: the interpreter, autograd's bookkeeping.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ffviz.runner import threads  # noqa: E402

threads.apply(threads.plan(threads.requested_threads(sys.argv)))  # before torch loads, as the CLI does

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench.report import machine_description, write_section  # noqa: E402
from ffviz.method.trainer import Trainer  # noqa: E402
from ffviz.recipes import recipe_config  # noqa: E402

# Operator name fragments -> the part of the step they belong to (first match wins).
PARTS = (
    # first: a compiled graph's name carries a hash that may spell any other part's fragment
    ("compiled kernels (ReLU, dropout, pooling, norm)", ("compiledfxgraph", "compiled region", "fusedactivation",
                                                         "dynamo", "pregraph")),
    ("convolution weight gradient", ("convolution_backward", "convolutionbackward")),
    ("convolution forward", ("mkldnn_convolution", "_convolution", "conv2d", "aten::convolution")),
    ("optimizer (fused AdamW)", ("adam",)),
    ("dropout bits", ("random_",)),
    ("gradient clipping", ("norm", "clamp", "_foreach")),
    ("instance norm and its gradient", ("instance_norm", "batch_norm", "native_batch_norm")),
    ("goodness pooling (mean, max, min)", ("mean", "amax", "amin", "max_pool", "avg_pool", "sum")),
    ("cross-entropy and softmax", ("cross_entropy", "log_softmax", "softmax", "nll_loss", "_softmax")),
    ("layout copies and casts", ("copy_", "contiguous", "clone", "to_dense", "empty_like", "cat", "_to_copy")),
    ("elementwise (ReLU, dropout, add, mul)", ("relu", "threshold", "mul", "add", "div", "where", "bernoulli",
                                               "masked", "sub", "exp", "log", "pow")),
)


def part_of(name: str) -> str:
    low = name.lower()
    for part, keys in PARTS:
        if any(k in low for k in keys):
            return part
    return "other operators"


# The step after each kept lever of issue 29, in the order they were added (the last is the default).
LEVERS = {"eager float32": dict(cpu_kernels="eager", bf16=False),
          "+ compiled kernels": dict(cpu_kernels="fused", bf16=False),
          "+ bf16 convolutions (default)": {}}


def profile_setup(image_size: int, batch: int, steps: int, **overrides) -> tuple[float, dict[str, float], int]:
    cfg = recipe_config("side-by-side", seed=2222, epochs=3, image_size=image_size, batch_size=batch, device="cpu",
                        **overrides)
    trainer = Trainer(cfg)
    trainer._fire("on_start", trainer)
    trainer._train_epoch()  # warm-up: oneDNN picks and caches its kernels, the allocator settles
    trainer.epoch = 1
    data = trainer.data
    lam = (cfg.lambda_entropy, cfg.lambda_orth)
    n = len(data.train_y)
    batches = [torch.arange(i, i + batch) % n for i in range(0, steps * batch, batch)]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for idx in batches:
            trainer._step(data.train_x[idx], data.train_y[idx], lam)
        wall = (time.perf_counter() - t0) / steps * 1000
    parts: dict[str, float] = defaultdict(float)
    ops = 0
    other: dict[str, float] = defaultdict(float)
    for evt in prof.key_averages():
        if evt.key.startswith("ProfilerStep") or evt.key.startswith("autograd::engine"):
            continue
        parts[part_of(evt.key)] += evt.self_cpu_time_total / 1000 / steps
        if part_of(evt.key) == "other operators":
            other[evt.key] += evt.self_cpu_time_total / 1000 / steps
        ops += evt.count
    top = sorted(other.items(), key=lambda kv: -kv[1])[:6]
    print("  other operators, largest:", ", ".join(f"{k} {v:.2f} ms" for k, v in top), flush=True)
    parts["Python and dispatch"] = max(0.0, wall - sum(parts.values()))
    return wall, dict(parts), ops // steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    info = threads.describe()
    machine = machine_description()
    load0 = time.time(), __import__("os").getloadavg()[0]
    lines = []
    for name, size, batch in (("side-by-side", 16, 32), ("32x32", 32, 64)):
        for lever, overrides in LEVERS.items():
            wall, parts, ops = profile_setup(size, batch, args.steps, **overrides)
            print(f"{name}, {lever}: {wall:.1f} ms per step, {ops} operator calls", flush=True)
            for part, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
                print(f"  {part:40s} {ms:7.2f} ms  {ms / wall:5.1%}", flush=True)
            lines.append((f"{name}, {lever}", size, batch, wall, parts, ops))
    if args.no_report:
        return 0
    body = (f"Machine: {machine}; torch {torch.__version__}; {info['torch_threads']} thread(s), wait "
            f"{info['wait']}. Load average {load0[1]:.1f} at the start, {__import__('os').getloadavg()[0]:.1f} at the "
            f"end. Command: `python bench/step_profile.py --threads {args.threads}` ({args.steps} steps after a "
            "warm-up epoch; each operator's own CPU time from torch.profiler, which itself adds a little per "
            "call).\n\n")
    for name, size, batch, wall, parts, ops in lines:
        body += (f"**{name}** ({size}x{size}, batch {batch}): {wall:.1f} ms per step, {ops} operator calls.\n\n"
                 "| part | ms per step | share |\n| --- | --- | --- |\n")
        for part, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
            body += f"| {part} | {ms:.2f} | {ms / wall:.0%} |\n"
        body += "\n"
    write_section("step-profile", "CPU: what a CLI run's step costs, part by part", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
