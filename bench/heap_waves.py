"""What each wave of sessions leaves behind in the server's heap: a short drive of the app (bench/st_client.py) in
waves, with the server under tracemalloc, and the allocations that grew from one wave's end to the next's, by line.

    python bench/heap_waves.py --sessions 8 --waves 3 --duration 30        # a few minutes; prints the top lines

The server is ``streamlit run`` started from a small wrapper that turns on tracemalloc and dumps a snapshot whenever
a trigger file appears (no signal handling inside Streamlit's loop). After each wave the sessions close, the runs
end, the disconnected sessions' time to live passes (--ttl, given to the server too) and a page is opened once so
Streamlit drops the expired sessions; then a snapshot is taken and the server's resident memory read.
Not a benchmark: tracemalloc slows the server several times over. It answers where memory goes, not how fast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import free_port  # noqa: E402
from bench.st_client import AppSession  # noqa: E402

WRAPPER = r'''
import os, sys, threading, time, tracemalloc
tracemalloc.start(12)
trigger, out = os.environ["HEAP_TRIGGER"], os.environ["HEAP_OUT"]
def watch():
    n = 0
    while True:
        time.sleep(0.3)
        if os.path.exists(trigger):
            import gc; gc.collect()
            n += 1
            tracemalloc.take_snapshot().dump(f"{out}/snap-{n}.tracemalloc")
            os.unlink(trigger)
threading.Thread(target=watch, daemon=True).start()
from streamlit.web import cli
sys.argv = ["streamlit", "run", "streamlit_app.py", *sys.argv[1:]]
sys.exit(cli.main())
'''
PAGES = ("", "assignments", "regularizers", "goodness", "contributions", "runs", "compare", "gap", "train")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def browse(url: str, shipped: list[str], rng: random.Random, deadline: float) -> None:
    while time.monotonic() < deadline:
        async with AppSession(url) as s:
            await s.open(rng.choice(PAGES), f"run={rng.choice(shipped)}")
            for _ in range(rng.randint(2, 4)):
                await s.watch(rng.uniform(0.5, 2.0))
                if time.monotonic() > deadline:
                    break
                await s.open(rng.choice(PAGES), f"run={rng.choice(shipped)}")


async def train(url: str, seed: int) -> None:
    async with AppSession(url) as s:
        page = await s.open("train", f"preset=classroom-mini&epochs=1&seed={seed}&device=cpu")
        await s.click(page.button("Start"))
        while s.live:
            await s.watch(1.0)


async def wave(url: str, shipped: list[str], index: int, sessions: int, trainers: int, duration: float) -> None:
    rng = random.Random(index)
    deadline = time.monotonic() + duration
    tasks = [train(url, 100 * index + i) for i in range(trainers)]
    tasks += [browse(url, shipped, random.Random(rng.random()), deadline) for _ in range(sessions - trainers)]
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            print(f"  a session failed: {type(outcome).__name__}: {outcome}")


async def touch(url: str) -> None:
    async with AppSession(url) as s:
        await s.open("")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--trainers", type=int, default=2)
    ap.add_argument("--waves", type=int, default=3)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--ttl", type=float, default=10.0, help="server.disconnectedSessionTTL, seconds")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ffviz-heap-"))
    runs, out = work / "runs", work / "snaps"
    runs.mkdir()
    out.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FFVIZ_RUNS_DIR": str(runs), "HEAP_TRIGGER": str(work / "trigger"), "HEAP_OUT": str(out),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, "--server.port", str(port), "--server.address",
                             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.disconnectedSessionTTL", str(int(args.ttl))],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        shipped = sorted(p.name for p in (REPO / "assets" / "runs").iterdir() if (p / "config.json").exists())
        figures = []
        for i in range(args.waves):
            t0 = time.monotonic()
            asyncio.run(wave(url, shipped, i, args.sessions, args.trainers, args.duration))
            time.sleep(args.ttl + 2)
            asyncio.run(touch(url))  # Streamlit drops expired sessions when a new one arrives
            time.sleep(2)
            (work / "trigger").write_text("")
            while (work / "trigger").exists():
                time.sleep(0.3)
            time.sleep(1)
            figures.append(rss_mb(proc.pid))
            print(f"wave {i + 1}: {time.monotonic() - t0:.0f} s, server RSS {figures[-1]:.1f} MiB", flush=True)
        snaps = sorted(out.glob("snap-*.tracemalloc"), key=lambda p: int(p.stem.split("-")[1]))
        for a, b in zip(snaps, snaps[1:], strict=False):
            old, new = tracemalloc.Snapshot.load(str(a)), tracemalloc.Snapshot.load(str(b))
            filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen*")]
            diff = new.filter_traces(filters).compare_to(old.filter_traces(filters), "traceback")
            total = sum(d.size_diff for d in diff)
            print(f"\n{a.stem} -> {b.stem}: traced heap {total / 2**20:+.2f} MiB; top growth by allocation site:")
            for d in sorted(diff, key=lambda d: d.size_diff, reverse=True)[:args.top]:
                frames = [f"{Path(f.filename).name}:{f.lineno}" for f in d.traceback[-6:]]
                print(f"  {d.size_diff / 1024:+9.1f} KiB {d.count_diff:+6d} blocks  {' < '.join(reversed(frames))}")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        from ffviz.runner.manager import stop_runs

        stop_runs(runs)
        print(f"\n(server log and snapshots in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
