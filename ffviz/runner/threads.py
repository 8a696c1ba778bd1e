"""How many CPU threads a run trains with, and how its idle threads wait: decided once, before torch is imported.

    python -m ffviz train --recipe side-by-side --threads 2     # ffviz/__main__.py plans and applies, then trains
    plan = threads.plan(requested=2); threads.apply(plan)       # the same, for a script of your own (before torch)

Why it matters, measured on 2 AMD EPYC cores (bench/REPORT.md, "threads"): PyTorch's CPU ops run on an OpenMP team
(libgomp). After each parallel region the helper threads wait for the next one, and a training step of these small
networks has about a thousand regions. How they wait decides the speed:
- spinning for a while (libgomp's own default, what a plain PyTorch script gets): the next region starts at once.
  On an idle machine this is the fast way, about 2x faster than sleeping.
- sleeping at once (OMP_WAIT_POLICY=PASSIVE): every region pays a futex wake-up. ffviz set this for every process
  until now, which is why a CLI run trained at half the speed of the same trainer in a process where torch happened
  to be imported first (the setting is read when torch loads libgomp, and is then fixed for the process).
- but spinning on cores that other processes also want is far worse: a spinning thread holds the core its partner
  needs to finish the region, and an epoch took 159 s instead of 4 s at a load of 9 on 2 cores.
So a run with one thread sets nothing (nothing waits); a run with several spins when their cores are free at its
start, and sleeps when other processes already keep them busy. A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
Every run records the plan and what torch then ran with (meta.json "threads"), so a slow run shows why.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass

THREADS_ENV = "FFVIZ_RUN_THREADS"  # set by the app's launcher for each run it starts
_USER_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
# Other processes' CPU use, in cores, above which a multi-threaded run's helpers sleep instead of spinning: with half
# a core already taken, spinning threads start to queue behind the other work (the collapse above).
BUSY_CORES = 0.5
_SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class ThreadPlan:
    """What a process trains with; every field is plain, so it goes into meta.json as it is."""
    threads: int  # torch's intra-op threads (OMP_NUM_THREADS, MKL_NUM_THREADS, torch.set_num_threads)
    source: str  # where the count came from: "--threads", "$FFVIZ_RUN_THREADS", "$OMP_NUM_THREADS" or "cores"
    wait: str  # how idle threads wait: "spin" (libgomp's default), "passive", "yours" or "single thread"
    why: str  # one sentence for a person
    others_busy_cores: float | None = None  # other processes' CPU use at the start, when it was measured


def cores() -> int:
    """The cores this process may run on (its affinity mask, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def requested_threads(argv: Sequence[str]) -> int | None:
    """The value of ``--threads N`` / ``--threads=N`` in a command line, read before argparse runs (the plan must
    be applied before the CLI's imports load torch); None when absent or not a whole number of at least 1."""
    for i, arg in enumerate(argv):
        raw = arg.split("=", 1)[1] if arg.startswith("--threads=") else (
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None)
        if raw is not None:
            try:
                n = int(raw)
            except ValueError:
                return None
            return n if n >= 1 else None
    return None


def _positive(raw: str | None) -> int | None:
    try:
        n = int(raw or "")
    except ValueError:
        return None
    return n if n >= 1 else None


def busy_cores(seconds: float = _SAMPLE_SECONDS) -> float | None:
    """CPU cores kept busy by everything on the machine over the next ``seconds`` (this process sleeps meanwhile,
    so it is the others' use), from /proc/stat; None where there is no /proc/stat."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values[:8]), idle
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    if total <= 0:
        return None
    return (total - (idle1 - idle0)) / total * (os.cpu_count() or 1)


def plan(requested: int | None = None, environ: Mapping[str, str] | None = None, *,
         measure=busy_cores) -> ThreadPlan:
    """The threads and wait policy for a run: ``requested`` (--threads) first, then $FFVIZ_RUN_THREADS, then
    $OMP_NUM_THREADS, else every core this process may use. ``measure`` returns other processes' busy cores."""
    env = os.environ if environ is None else environ
    candidates = (("--threads", requested), (f"${THREADS_ENV}", _positive(env.get(THREADS_ENV))),
                  ("$OMP_NUM_THREADS", _positive(env.get("OMP_NUM_THREADS"))), ("cores", cores()))
    source, n = next((s, c) for s, c in candidates if c is not None)
    if any(env.get(v) for v in _USER_WAIT_VARS):
        told = ", ".join(f"{v}={env[v]}" for v in _USER_WAIT_VARS if env.get(v))
        return ThreadPlan(n, source, "yours", f"{told} was set before the run started; ffviz keeps it")
    if n == 1:
        return ThreadPlan(n, source, "single thread", "one thread: no OpenMP team, nothing waits")
    others = measure()
    if others is not None and others > BUSY_CORES:
        return ThreadPlan(n, source, "passive", f"other processes kept {others:.1f} cores busy at the start: the "
                                                f"{n} threads sleep between operations instead of spinning on "
                                                f"cores that others need", round(others, 2))
    return ThreadPlan(n, source, "spin", f"the cores were free at the start: the {n} threads spin briefly between "
                                         f"operations (libgomp's default), the fast way on an idle machine",
                      None if others is None else round(others, 2))


def apply(p: ThreadPlan, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the plan into the environment OpenMP and MKL read when torch loads them, and into torch itself if it
    is loaded already (then the wait policy can no longer change: ``describe`` says so)."""
    env = os.environ if environ is None else environ
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(p.threads)
    if p.wait == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(p.threads)
    _applied.update(plan=p, before_torch="torch" not in sys.modules)


_applied: dict = {}


def planned() -> ThreadPlan | None:
    """The plan this process applied, if any."""
    return _applied.get("plan")


def describe() -> dict:
    """What this process trains with, for meta.json: the plan, whether it came before torch was loaded (only then
    does its wait policy hold), and the threads torch actually uses."""
    p: ThreadPlan | None = _applied.get("plan")
    info: dict = asdict(p) if p else {"threads": None, "source": "not planned", "wait": "unknown",
                                      "why": "this process did not start through ffviz's command line"}
    info["set_before_torch"] = bool(_applied.get("before_torch")) if p else False
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY") or "libgomp default"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    return info
