"""Where the server's memory grows outside the Python heap: the drive of bench/heap_waves.py (waves of sessions, some
training, most browsing), with the server under memray's native mode, and the native allocations alive at the end
of one wave and not the one before, grouped by their native stack (the C/C++ frames under the Python ones).

    pip install memray        # not a requirement of ffviz: a profiler, for this script only
    python bench/native_waves.py --sessions 8 --trainers 2 --waves 3 --duration 30     # ~5 minutes; prints the top

tracemalloc (bench/heap_waves.py) sees only Python's allocator: the load test's growth from wave 2 to wave 3 was
outside it (+0.10 MiB traced against +17 MiB resident). memray sees malloc, the allocators of numpy, protobuf and
the web server's libraries, and mmap. Not a benchmark: the profiler slows the server several times over.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import free_port  # noqa: E402
from bench.heap_waves import rss_mb, touch, wave  # noqa: E402
from bench.report import machine_description, write_section  # noqa: E402

SKIP = ("malloc", "calloc", "realloc", "memray", "PyMem_", "_PyObject_Malloc", "operator new", "pymalloc",
        "PyObject_Malloc", "_PyMem", "allocate")


def alive_at(record, index: int) -> int:
    """Bytes of one allocation site alive at memory snapshot ``index``."""
    return sum(iv.n_bytes for iv in record.intervals if iv.allocated_before_snapshot <= index
               and (iv.deallocated_before_snapshot is None or iv.deallocated_before_snapshot > index))


def where(record, depth: int = 6) -> str:
    """The site's frames, innermost first, without the allocator's own."""
    try:
        frames = record.hybrid_stack_trace(max_stacks=40)
    except Exception:  # noqa: BLE001 - a stack memray could not resolve
        frames = record.stack_trace()
    names = [f"{Path(str(f[1])).name}:{f[2]} {f[0]}" if isinstance(f, tuple) else str(f) for f in frames]
    kept = [n for n in names if not any(s in n for s in SKIP)]
    return " < ".join(kept[:depth]) or "(no frames)"


def report(capture: Path, marks: list[float], top: int, label: str | None = None, args_text: str = "") -> None:
    import memray

    reader = memray.FileReader(str(capture))
    snaps = list(reader.get_memory_snapshots())
    # a snapshot's time is in ms since the epoch: the snapshot just before each wave's end (its place in the list)
    times = [s.time / 1000 for s in snaps]
    index = [max(bisect.bisect_right(times, t) - 1, 0) for t in marks]
    growth: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        for k, (a, b) in enumerate(zip(index, index[1:], strict=False)):
            if k == len(index) - 2:  # the last step: wave 2 -> wave 3 (or the last two waves)
                diff = alive_at(rec, b) - alive_at(rec, a)
                if diff:
                    key = f"{memray.AllocatorType(rec.allocator).name}: {where(rec)}"
                    growth[key][0] += diff
                    growth[key][1] += 1
    total = sum(g[0] for g in growth.values())
    lines = [f"Native allocations alive at the end of the last wave minus the one before: {total / 2**20:+.2f} MiB; "
             "resident at each wave's end (memray's reading): "
             + ", ".join(f"{snaps[i].rss / 2**20:.1f} MiB" for i in index) + ". Largest growth by native stack:", ""]
    for key, (size, n) in sorted(growth.items(), key=lambda kv: kv[1][0], reverse=True)[:top]:
        lines.append(f"- {size / 2**20:+.2f} MiB, {n} site(s): `{key[:220]}`")
    body = "\n".join(lines)
    print(body)
    if label is not None:
        write_section("native-waves", "Native memory from wave to wave (memray, native mode)",
                      f"Machine: {machine_description()}{' · ' + label if label else ''}.\n\n{body}\n\n"
                      f"Command: `python bench/native_waves.py {args_text}`")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--trainers", type=int, default=2)
    ap.add_argument("--waves", type=int, default=3)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--ttl", type=float, default=10.0, help="server.disconnectedSessionTTL, seconds")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--capture", type=Path, help="report on an earlier capture (its marks.txt beside it) only")
    ap.add_argument("--label", default="", help="e.g. 'loaded: other work on the machine'")
    ap.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    args = ap.parse_args()
    label = None if args.no_report else args.label
    text = f"--sessions {args.sessions} --trainers {args.trainers} --waves {args.waves} --duration {args.duration:g}"
    if args.capture:
        marks = [float(x) for x in (args.capture.parent / "marks.txt").read_text().split()]
        report(args.capture, marks, args.top, label, text)
        return 0
    work = Path(tempfile.mkdtemp(prefix="ffviz-native-"))
    runs, capture = work / "runs", work / "server.memray"
    runs.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "FFVIZ_RUNS_DIR": str(runs), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "memray", "run", "--native", "-q", "-o", str(capture), "-m",
                             "streamlit", "run", "streamlit_app.py", "--server.port", str(port), "--server.address",
                             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
                             "--server.disconnectedSessionTTL", str(int(args.ttl))],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    marks = []
    try:
        for _ in range(480):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        shipped = sorted(p.name for p in (REPO / "assets" / "runs").iterdir() if (p / "config.json").exists())
        for i in range(args.waves):
            t0 = time.monotonic()
            asyncio.run(wave(url, shipped, i, args.sessions, args.trainers, args.duration))
            time.sleep(args.ttl + 2)
            asyncio.run(touch(url))  # Streamlit drops expired sessions when a new one arrives
            time.sleep(3)
            marks.append(time.time())
            (work / "marks.txt").write_text(" ".join(map(str, marks)))
            print(f"wave {i + 1}: {time.monotonic() - t0:.0f} s, server RSS {rss_mb(proc.pid):.1f} MiB", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        from ffviz.runner.manager import stop_runs

        stop_runs(runs)
    report(capture, marks, args.top, label, text)
    print(f"\n(server log and capture in {work}; `memray flamegraph --temporal {capture}` to browse it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
