"""A classroom against one server: concurrent sessions on loopback, some training and most browsing. Prints the
figures and writes the "reliability" section of bench/REPORT.md.

    python bench/load_test.py                                  # 30 sessions (4 train), 2 waves of 90 s: ~5 minutes
    python bench/load_test.py --sessions 6 --trainers 3 --duration 20 --json out.json --no-report   # the test's size

The app is served as a user starts it (``streamlit run``, runs in a fresh folder, the shipped runs alongside) and
driven through its websocket by `bench.st_client.AppSession`, one per session, as a browser tab would drive it: each
page load is the time from the request to the last element of the page's script run (a browser's drawing is the
student's laptop's work, not the server's). A wave starts every session at once:

- trainers open the Train page from a link (preset classroom-mini, a few epochs, their own seed), press Start and
  watch the live charts until the run ends; each run trains in a process of its own, and beyond the server's
  FFVIZ_MAX_RUNNING slots runs wait in the queue, and the page must say their position;
- browsers open tab after tab from links (a shipped run, with an epoch and a layer on a view page) and move through
  a few pages from the sidebar in each, reading each page for 1-4 s; one in three follow a link to a run that is
  training and read its live views (their charts rerun every second) until it ends.

Then the sessions close, the runs end, and the server's threads and resident memory are read again. Two waves: a
leak shows as growth from the end of the first wave to the end of the second (the first wave also fills caches that
stay: the shared run readers). CPU is counted for the server and for the runs' processes (which the server reaps,
so their CPU time is the server's children's), each divided by the wave's wall time. A failed request is any
exception on a page, a request the server did not answer within 60 s, or a dropped connection; there must be none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import AppServer  # noqa: E402
from bench.report import machine_description, write_section  # noqa: E402
from bench.st_client import AppSession, RequestFailed  # noqa: E402
from ffviz.runner.launcher import MAX_RUNNING_ENV, max_running_setting  # noqa: E402

BROWSE_PAGES = ("", "assignments", "regularizers", "goodness", "contributions", "runs", "compare", "gap", "train")
VIEW_PAGES = ("assignments", "regularizers", "goodness", "contributions")
QUEUED = re.compile(r"position (\d+) in the queue")
SESSION_TTL = 10  # s a closed tab's session is kept for a reconnect (Streamlit's default is 120)


@dataclass
class Wave:
    loads: list[tuple[str, float]] = field(default_factory=list)  # (page, s) every page load
    first_loads: list[float] = field(default_factory=list)  # a session's first page: GET /, websocket, page
    clicks: list[float] = field(default_factory=list)  # Start pressed -> the page with the run
    fragments: list[float] = field(default_factory=list)  # live chart reruns
    failures: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # queue positions trainers' pages showed right after Start
    waits: list[float] = field(default_factory=list)  # Start -> the run left the queue, as its page showed
    statuses: list[str] = field(default_factory=list)  # how each trainer's run ended (its folder's meta.json)
    finished: list[float] = field(default_factory=list)  # wave start -> each trainer's run ended, s
    server_cpu_finished: list[float] = field(default_factory=list)  # the server's CPU seconds at each of those
    started: float = field(default_factory=time.perf_counter)
    max_running: int = 0
    max_queued: int = 0
    requests: int = 0


def run_states(runs: Path) -> dict[str, str]:
    """Run folder name -> status, as each run's meta.json says now."""
    states = {}
    for meta in runs.glob("*/meta.json"):
        try:
            states[meta.parent.name] = json.loads(meta.read_text()).get("status", "")
        except (OSError, ValueError):  # being replaced this instant
            continue
    return states


def run_of_seed(runs: Path, seed: int) -> Path | None:
    for cfg in runs.glob("*/config.json"):
        try:
            if json.loads(cfg.read_text()).get("seed") == seed:
                return cfg.parent
        except (OSError, ValueError):
            continue
    return None


async def trainer(url: str, runs: Path, seed: int, epochs: int, wave: Wave, deadline: float,
                  server_cpu: Callable[[], float]) -> None:
    async with AppSession(url) as s:
        t0 = time.perf_counter()
        page = await s.open("train", f"preset=classroom-mini&epochs={epochs}&seed={seed}&device=cpu")
        wave.first_loads.append(time.perf_counter() - t0)
        wave.loads.append(("train", page.seconds))
        if page.buttons["Start"][1]:
            raise RequestFailed("the Start button is disabled on a fresh Train page")
        started = time.perf_counter()
        page = await s.click(page.button("Start"))
        wave.clicks.append(page.seconds)
        texts = " ".join(page.texts)
        if m := QUEUED.search(texts):
            wave.positions.append(int(m.group(1)))
        queued = "Waiting for a free slot" in texts
        while s.live and time.monotonic() < deadline:
            for fragment in await s.watch(1.0):
                wave.fragments.append(fragment.seconds)
                waiting = "Waiting for a free slot" in " ".join(fragment.texts)
                if queued and not waiting:
                    wave.waits.append(time.perf_counter() - started)
                queued = queued and waiting
        wave.requests += s.requests
    run_dir = run_of_seed(runs, seed)
    status = json.loads((run_dir / "meta.json").read_text()).get("status") if run_dir else "no run folder"
    wave.statuses.append(status)
    wave.finished.append(time.perf_counter() - wave.started)
    wave.server_cpu_finished.append(server_cpu())


def live_runs(runs: Path) -> list[str]:
    return [name for name, status in run_states(runs).items() if status == "running"]


async def browser(url: str, runs: Path, shipped: list[str], rng: random.Random, wave: Wave, deadline: float,
                  watches_live: bool) -> None:
    """Tab after tab until the deadline: each opened from a link to a run (a shipped one, or for a live watcher a run
    that is training, as a teacher's link would send them), then a few pages from the sidebar, reading each for
    1-4 s; a live watcher's tab ends when its run does. A page link carries the run, and a view page its epoch and
    layer, which apply when a tab opens (as in a browser, later pages keep the run in the URL)."""
    pages = VIEW_PAGES if watches_live else BROWSE_PAGES
    while time.monotonic() < deadline:
        live = live_runs(runs) if watches_live else []
        if watches_live and not live:
            await asyncio.sleep(1.0)  # the class waits for the teacher's run to start
            continue
        run = rng.choice(live or shipped)
        first = rng.choice(pages)
        query = f"run={run}"
        if first in VIEW_PAGES and not live:
            query += f"&epoch={rng.randint(0, 12)}&layer={rng.randint(0, 8)}"
        async with AppSession(url) as s:
            t0 = time.perf_counter()
            page = await s.open(first, query)
            wave.first_loads.append(time.perf_counter() - t0)
            wave.loads.append((page.name, page.seconds))
            for _ in range(rng.randint(3, 6)):
                for fragment in await s.watch(rng.uniform(1.0, 4.0)):  # reading; live charts rerun meanwhile
                    wave.fragments.append(fragment.seconds)
                if time.monotonic() > deadline or (live and run not in live_runs(runs)):
                    break
                page = await s.open(rng.choice(pages), f"run={run}")
                wave.loads.append((page.name, page.seconds))
            wave.requests += s.requests


async def sample(server: AppServer, runs: Path, wave: Wave, peak: list[float], stop: asyncio.Event,
                 limit: int) -> None:
    while not stop.is_set():
        states = list(run_states(runs).values())
        running = sum(s in ("starting", "running", "paused") for s in states)
        wave.max_running = max(wave.max_running, running)
        if running >= limit:  # every slot busy: what waits now waits in the queue (a new run says "queued" briefly)
            wave.max_queued = max(wave.max_queued, states.count("queued"))
        peak[0] = max(peak[0], server.rss_mb())
        peak[1] = max(peak[1], server.threads())
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:  # TimeoutError itself only from Python 3.11
            pass


async def run_wave(server: AppServer, args: argparse.Namespace, shipped: list[str], index: int, limit: int
                   ) -> tuple[Wave, list[float]]:
    wave, peak, stop = Wave(), [0.0, 0], asyncio.Event()
    rng = random.Random(args.seed + index)
    deadline = time.monotonic() + args.duration
    tasks = [trainer(server.url, server.runs_dir, 1000 * (index + 1) + i, args.epochs, wave,
                     deadline + args.finish_within, server.cpu_seconds) for i in range(args.trainers)]
    tasks += [browser(server.url, server.runs_dir, shipped, random.Random(rng.random()), wave, deadline,
                      watches_live=i % 3 == 0) for i in range(args.sessions - args.trainers)]
    sampler = asyncio.create_task(sample(server, server.runs_dir, wave, peak, stop, limit))
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            wave.failures.append(f"{type(outcome).__name__}: {outcome}")
    stop.set()
    await sampler
    return wave, peak


def settle(server: AppServer, seconds: float) -> tuple[float, int]:
    """Wait for closed sessions to expire and the server to go idle; then (resident MiB, threads)."""
    deadline = time.monotonic() + 120
    while any(s in ("queued", "starting", "running", "paused") for s in run_states(server.runs_dir).values()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(seconds)
    # Touching the server makes Streamlit's session store drop its expired (closed) sessions.
    asyncio.run(_touch(server.url))
    time.sleep(2.0)
    return server.rss_mb(), server.threads()


async def _touch(url: str) -> None:
    async with AppSession(url) as s:
        await s.open("")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="concurrent sessions per wave")
    parser.add_argument("--trainers", type=int, default=4, help="how many of them start a run")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds the browsing sessions browse")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of each trainer's classroom-mini run")
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--finish-within", type=float, default=240.0,
                        help="seconds after the browsing ends that trainers may still watch their runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-running", type=int, default=None,
                        help="the server's FFVIZ_MAX_RUNNING (default: its own, from this machine's cores and GPUs)")
    parser.add_argument("--json", type=Path, help="also write the figures here (the test reads them)")
    parser.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    args = parser.parse_args()
    if not 0 <= args.trainers <= args.sessions:
        parser.error(f"--trainers={args.trainers} must be between 0 and --sessions={args.sessions}")
    shipped = sorted(p.name for p in (REPO / "assets" / "runs").iterdir() if (p / "meta.json").exists())
    env = {"STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(SESSION_TTL)}
    if args.max_running is not None:
        env[MAX_RUNNING_ENV] = str(args.max_running)
    limit = max_running_setting({**os.environ, **env})[0]  # what the server reads (no torch: ffviz.runner.launcher)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, AppServer(Path(tmp) / "runs", env=env) as server:
        asyncio.run(_warm_up(server.url, shipped))
        start = settle(server, 1.0)
        waves, peaks, ends, cpu, training = [], [], [], [], []
        for w in range(args.waves):
            t0, server_cpu, own_cpu = time.perf_counter(), server.cpu_seconds(), time.process_time()
            runs_cpu = server.children_cpu_seconds()
            wave, peak = asyncio.run(run_wave(server, args, shipped, w, limit))
            wall = time.perf_counter() - t0
            server_part, own_part = server.cpu_seconds() - server_cpu, time.process_time() - own_cpu
            ends.append(settle(server, SESSION_TTL + 3))  # the runs have ended and been reaped: their CPU counts
            runs_part = server.children_cpu_seconds() - runs_cpu
            cpu.append((server_part / wall, runs_part / wall, own_part / wall))
            # While the runs trained (wave start -> the last one ended): the server's and the runs' CPU together.
            if wave.finished:
                last = max(range(len(wave.finished)), key=wave.finished.__getitem__)
                span = wave.finished[last]
                training.append(round((wave.server_cpu_finished[last] - server_cpu + runs_part) / span, 2))
            waves.append(wave)
            peaks.append(peak)
            print(f"wave {w + 1}: {len(wave.loads)} page loads, p95 {percentile([s for _, s in wave.loads], 95):.2f}"
                  f" s, {len(wave.failures)} failed; server {ends[-1][0]:.0f} MiB, {ends[-1][1]} threads", flush=True)
        log = server.output()
    load_after = os.getloadavg()
    figures = summarize(args, waves, start, peaks, ends, load_before, load_after)
    figures["limit"] = limit
    figures["server_cores"] = [round(c[0], 2) for c in cpu]  # CPU seconds per second of each wave
    figures["runs_cores"] = [round(c[1], 2) for c in cpu]  # the runs' processes
    figures["together_cores"] = [round(c[0] + c[1], 2) for c in cpu]
    figures["together_cores_training"] = training  # from the wave's start until its last run ended
    figures["client_cores"] = [round(c[2], 2) for c in cpu]
    figures["server_tracebacks"] = log.count("Traceback")
    print(json.dumps({k: v for k, v in figures.items() if k != "per_wave"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if not args.no_report:
        write_section("reliability", "Reliability: a classroom on one server", report(args, figures))
    return 0


async def _warm_up(url: str, shipped: list[str]) -> None:
    """One session visits every page once, as the teacher would before class (first imports, first figures)."""
    async with AppSession(url, timeout=300) as s:
        for page in BROWSE_PAGES:
            await s.open(page, f"run={shipped[0]}")


def summarize(args, waves: list[Wave], start, peaks, ends, load_before, load_after) -> dict:
    loads = [s for w in waves for _, s in w.loads]
    by_page: dict[str, list[float]] = {}
    for w in waves:
        for name, s in w.loads:
            by_page.setdefault(name, []).append(s)
    return {
        "sessions": args.sessions, "trainers": args.trainers, "duration": args.duration, "epochs": args.epochs,
        "waves": args.waves, "page_loads": len(loads),
        "p50": statistics.median(loads) if loads else None, "p95": percentile(loads, 95),
        "max": max(loads, default=None),
        "first_load_p95": percentile([s for w in waves for s in w.first_loads], 95),
        "click_p95": percentile([s for w in waves for s in w.clicks], 95),
        "fragment_reruns": sum(len(w.fragments) for w in waves),
        "fragment_p95": percentile([s for w in waves for s in w.fragments], 95),
        "requests": sum(w.requests for w in waves),
        "failures": [f for w in waves for f in w.failures],
        "statuses": [s for w in waves for s in w.statuses],
        "all_finished_s": [round(max(w.finished), 1) if w.finished else None for w in waves],
        "positions": [p for w in waves for p in w.positions],
        "queue_waits": [round(s, 1) for w in waves for s in w.waits],
        "max_running": max(w.max_running for w in waves), "max_queued": max(w.max_queued for w in waves),
        "rss_start": start[0], "threads_start": start[1],
        "rss_peak": [p[0] for p in peaks], "threads_peak": [p[1] for p in peaks],
        "rss_end": [e[0] for e in ends], "threads_end": [e[1] for e in ends],
        "by_page": {k: {"n": len(v), "p50": statistics.median(v), "p95": percentile(v, 95)}
                    for k, v in sorted(by_page.items())},
        "load_before": load_before[0], "load_after": load_after[0],
    }


def report(args, f: dict) -> str:
    ok = not f["failures"] and f["server_tracebacks"] == 0
    pages = "; ".join(f"{name} {v['p50']:.2f} / {v['p95']:.2f} s ({v['n']})" for name, v in f["by_page"].items())
    growth_mb = f["rss_end"][-1] - f["rss_end"][0]
    lines = [
        f"Machine: {machine_description()}; load average {f['load_before']:.1f} before, {f['load_after']:.1f} after "
        "(the cores are shared with other work). Server, load generator and training share the 2 cores.",
        f"{f['waves']} waves of {f['sessions']} concurrent sessions against one `streamlit run streamlit_app.py` on "
        f"loopback: {f['trainers']} train (classroom-mini, {f['epochs']} epochs each, from a link, Start, then the "
        f"live charts to the end), {f['sessions'] - f['trainers']} browse for {f['duration']:.0f} s (a page every "
        "1-4 s, tab after tab from links to shipped runs and, one in three, to a run that is training). Sessions are "
        "websocket clients (`bench/st_client.py`): a page counts as loaded when its script run's last element has "
        "arrived.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| page loads | {f['page_loads']} |",
        f"| time to a loaded page, median / **p95** / max | {f['p50']:.2f} / **{f['p95']:.2f}** / {f['max']:.2f} s "
        f"(goal p95 ≤ 2 s: {'met' if f['p95'] <= 2.0 else 'NOT met'}) |",
        f"| first page of a session (GET /, websocket, page), p95 | {f['first_load_p95']:.2f} s |",
        f"| Start pressed → the page with the run, p95 | {f['click_p95']:.2f} s |",
        f"| live chart reruns, count / p95 | {f['fragment_reruns']} / {f['fragment_p95']:.2f} s |",
        f"| requests sent / **failed** | {f['requests']} / **{len(f['failures'])}** (server log tracebacks: "
        f"{f['server_tracebacks']}) |",
        f"| queue: most runs training at once / most waiting | {f['max_running']} (the limit, FFVIZ_MAX_RUNNING, "
        f"is {f['limit']}) / {f['max_queued']} |",
        f"| queue positions shown right after Start | {', '.join(map(str, f['positions'])) or 'none'} |",
        f"| queued runs: Start → training, s | {', '.join(map(str, f['queue_waits'])) or 'none'} |",
        f"| how the trainers' runs ended | {', '.join(f['statuses'])} |",
        f"| **wave start → the last trainer's run finished**, per wave | "
        f"{', '.join(f'{v} s' for v in f['all_finished_s'])} |",
        f"| **server memory (RSS)**: after warm-up / peak per wave / after each wave | {f['rss_start']:.0f} / "
        f"{' , '.join(f'{v:.0f}' for v in f['rss_peak'])} / {' , '.join(f'{v:.0f}' for v in f['rss_end'])} MiB |",
        f"| CPU in use during each wave, cores: server (pages) / runs' processes / **together** / the simulated "
        f"clients | {', '.join(map(str, f['server_cores']))} / {', '.join(map(str, f['runs_cores']))} / "
        f"**{', '.join(map(str, f['together_cores']))}** / {', '.join(map(str, f['client_cores']))} (of "
        f"{os.cpu_count()}) |",
        f"| **CPU in use while the wave's runs trained** (its start → its last run ended), cores: server and runs "
        f"together | **{', '.join(map(str, f['together_cores_training']))}** (of {os.cpu_count()}) |",
        f"| server threads: after warm-up / peak per wave / after each wave | {f['threads_start']} / "
        f"{', '.join(map(str, f['threads_peak']))} / {', '.join(map(str, f['threads_end']))} |",
        "",
        f"Per page, median / p95 (count): {pages}.",
        f"After each wave the runs had ended and the closed sessions had expired (a closed tab's session is kept "
        f"{SESSION_TTL} s here for a reconnect; Streamlit's default is 120 s, at most 128 sessions). From the end of "
        f"wave 1 to the end of wave {f['waves']} the server's memory changed by {growth_mb:+.0f} MiB and its threads "
        f"by {f['threads_end'][-1] - f['threads_end'][0]:+d}. "
        + ("No request failed." if ok else f"Failures: {f['failures'][:5]}"),
        "",
        f"Command: `python bench/load_test.py --sessions {args.sessions} --trainers {args.trainers} "
        f"--duration {args.duration:.0f} --epochs {args.epochs} --waves {args.waves}"
        + (f" --max-running {args.max_running}" if args.max_running is not None else "") + "`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
