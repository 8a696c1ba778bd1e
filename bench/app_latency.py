"""App latency: while the app shows a running digits run, how fast does a widget change update the view, how much
of the CLI's training speed does a run keep when the app launches it, and how soon does a fresh server draw its
first page? Prints the figures and writes the "app-latency" section of bench/REPORT.md.

    python bench/app_latency.py                   # classroom, 12 epochs, 12 widget changes, 2 rounds (~6 min, 2 cores)
    python bench/app_latency.py --epochs 4 --changes 6 --repeats 1 --cold-starts 1 --no-report   # a smoke run

(a) Latency: the app is served as a user starts it (``streamlit run``) and driven from a real Chromium. The run is
started from the Train page; on the Assignments page, while the run trains, the layer selector (a click on an option
of the opened list) and the epoch slider (a key press) are changed in turn, and the time from the click or key press
to the heatmap showing the chosen layer and epoch is measured (median and max).
(b) Throughput: images/s of the app's runs (from their epochs.jsonl, epochs 1..N), one watched on the Train page and
one steered as in (a), against the same config trained with ``python -m ffviz train ... --no-progress`` in this
script, in alternating rounds on the same machine (its cores may be shared: the median ratio of the rounds counts).
The app runs each run in its own process; the server is told to give it as many threads as the CLI run has
(FFVIZ_RUN_THREADS), so the two differ only in where they run.
(c) Cold start: a fresh ``streamlit run``, once it answers its health check, is asked for its first page by a fresh
Chromium; the time from the request to the page's title drawn and its script run done is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import AppServer  # noqa: E402
from bench.report import machine_description, write_section  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SETTLED = """() => {
  if (!document.querySelector('h1')) return false;
  const w = document.querySelector('[data-testid="stStatusWidget"]');
  if (w && /Running/i.test(w.innerText)) return false;
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
}"""
SHOWS = """want => [...document.querySelectorAll('.gtitle')].some(e => e.textContent.includes(want))"""


def images_per_sec(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines() if line.strip()]
    return [r["images_per_sec"] for r in rows if r.get("images_per_sec")]


def cli_run(args: argparse.Namespace, runs: Path) -> tuple[list[float], str]:
    cmd = [sys.executable, "-m", "ffviz", "train", "--preset", args.preset, "--epochs", str(args.epochs),
           "--runs-dir", str(runs), "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    run_dir = max((p for p in runs.iterdir() if (p / "epochs.jsonl").exists()), key=lambda p: p.stat().st_mtime)
    return images_per_sec(run_dir), " ".join(["python", *cmd[1:-3], "--no-progress"])


def app_run(args: argparse.Namespace, runs: Path, *, interact: bool
            ) -> tuple[list[float], list[str], list[float], int]:
    """Start the run from the browser. With ``interact``, on Assignments, while it trains, change the layer and move
    the epoch slider in turn; without, watch the Train page's live charts to the end. Returns (latencies in s, which
    widget each was, images/s of the run's epochs, how many changes happened while the run was still training)."""
    from playwright.sync_api import sync_playwright

    latencies, kinds, during = [], [], 0
    with AppServer(runs, env={"FFVIZ_RUN_THREADS": str(_torch_threads())}) as server, sync_playwright() as p:
        url = server.url
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(f"{url}/train")
        page.wait_for_function(SETTLED)
        if args.preset != "classroom":
            page.get_by_test_id("stSelectbox").filter(has_text="Network preset").click()
            page.get_by_role("option", name=re.compile(rf"^{re.escape(args.preset)} ")).click()
            page.wait_for_function(SETTLED)
        box = page.get_by_label("Epochs", exact=True)
        box.fill(str(args.epochs))
        box.press("Enter")
        time.sleep(1.0)
        page.wait_for_function(SETTLED)
        page.get_by_role("button", name="Start").click()
        if interact:  # straight to the view, to have the whole run to steer
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Assignments").click()
        else:
            page.get_by_test_id("stMetricValue").filter(has_text=f"/ {args.epochs}").first.wait_for()
        deadline = time.time() + 60
        while not (run_dirs := [p for p in runs.iterdir() if (p / "config.json").exists()]):
            if time.time() > deadline:
                raise RuntimeError("no run folder appeared after Start")
            time.sleep(0.2)
        run_dir = run_dirs[0]
        layer = 4  # the page opens on the middle layer of the 9
        for i in range(args.changes if interact else 0):
            for _attempt in range(3):  # a rerun in flight can swallow a click or a key press: try again
                took, what = _change(page, i, layer)
                if took is not None:
                    break
            else:
                page.screenshot(path=str(Path(tempfile.gettempdir()) / "app_latency_failure.png"))
                titles = page.evaluate("() => [...document.querySelectorAll('.gtitle')].map(e => e.textContent)")
                raise RuntimeError(f"the view never showed {what!r}; it shows {titles}")
            if not what[-1].isdigit():
                layer = (layer + 3) % 9
            latencies.append(took)
            kinds.append("epoch" if what[-1].isdigit() else "layer")
            status = json.loads((run_dir / "meta.json").read_text()).get("status")
            training = status in ("queued", "starting", "running", "paused")
            during += training
            kinds[-1] += " (training)" if training else ""
            time.sleep(0.5)
        # let the run finish while the page keeps refreshing
        deadline = time.time() + 600
        while json.loads((run_dir / "meta.json").read_text()).get("status") in ("queued", "starting", "running"):
            if time.time() > deadline:
                raise RuntimeError("the app's run did not finish")
            time.sleep(1.0)
        browser.close()
    return latencies, kinds, images_per_sec(run_dir), during


def cold_start(runs: Path) -> float:
    """Seconds from a fresh Chromium's request of a fresh server's first page to that page drawn (its title shown
    and its script run done)."""
    from playwright.sync_api import sync_playwright

    with AppServer(runs) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(120_000)
        t0 = time.perf_counter()
        page.goto(server.url)
        page.wait_for_function(SETTLED, polling="raf")
        took = time.perf_counter() - t0
        browser.close()
    return took


def _change(page, i: int, layer: int) -> tuple[float | None, str]:
    """One widget change on Assignments: odd i moves the epoch slider (one key press), even i picks the layer 3 on
    (a click on the opened list). Returns (seconds until the heatmap showed it, or None if it never did; what)."""
    page.wait_for_function(SETTLED)  # a page rerun in flight shows the old widgets beside the new ones
    slider = page.locator('input[type=range][aria-label="Epoch"]')
    if i % 2 and slider.count() and int(slider.get_attribute("max")) >= 2:
        # to epoch 0 or 1: away from the newest epoch, which the slider follows when a new one arrives
        now = int(slider.get_attribute("aria-valuetext"))
        key, want = ("Home", 0) if now != 0 else ("ArrowRight", 1)
        slider.focus()
        what = f"W of layer {layer} at epoch {want}"
        t0 = time.perf_counter()
        page.keyboard.press(key)
    else:
        layer = (layer + 3) % 9
        page.get_by_test_id("stSelectbox").filter(has_text="Layer").click()
        option = page.get_by_role("option", name=re.compile(rf"^layer {layer} "))
        option.click(trial=True)  # waits until the opened list holds still: the user sees the option
        what = f"W of layer {layer} at epoch"
        t0 = time.perf_counter()
        option.click(force=True)
    try:
        page.wait_for_function(SHOWS, arg=what, polling="raf", timeout=20_000)
    except Exception:
        page.keyboard.press("Escape")
        return None, what
    return time.perf_counter() - t0, what


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--changes", type=int, default=12, help="widget changes to time in each interactive run")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of CLI run, app run watched, app run steered")
    parser.add_argument("--cold-starts", type=int, default=3, help="fresh servers whose first page is timed")
    parser.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    args = parser.parse_args()
    rounds, lat, kinds, during, colds = [], [], [], 0, []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(args.cold_starts):
            colds.append(cold_start(Path(tmp) / f"cold{c}"))
            print(f"cold start {c + 1}: first page drawn {colds[-1]:.2f} s after the browser asked", flush=True)
        for r in range(args.repeats):
            cli_ips, cli_cmd = cli_run(args, Path(tmp) / f"cli{r}")
            _, _, watch_ips, _ = app_run(args, Path(tmp) / f"watch{r}", interact=False)
            la, ki, steer_ips, du = app_run(args, Path(tmp) / f"steer{r}", interact=True)
            lat += la
            kinds += ki
            during += du
            rounds.append((statistics.mean(cli_ips), statistics.mean(watch_ips), statistics.mean(steer_ips)))
            print(f"round {r + 1}: CLI {rounds[-1][0]:,.0f}, app watched {rounds[-1][1]:,.0f}, app steered "
                  f"{rounds[-1][2]:,.0f} images/s", flush=True)
    load_after = os.getloadavg()
    watch_ratio = statistics.median(w / c for c, w, _ in rounds)
    steer_ratio = statistics.median(s / c for c, _, s in rounds)
    med, worst = statistics.median(lat), max(lat)
    live = [v for v, k in zip(lat, kinds, strict=True) if "training" in k]
    after = [v for v, k in zip(lat, kinds, strict=True) if "training" not in k]

    def summary(values: list[float]) -> str:
        if not values:
            return "–"
        return f"median {1000 * statistics.median(values):.0f} ms, max {1000 * max(values):.0f} ms ({len(values)})"
    per_round = "; ".join(f"{c:,.0f} / {w:,.0f} / {s:,.0f}" for c, w, s in rounds)
    lines = [
        f"Machine: {machine_description()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(the cores are shared: other jobs ran during the measurement).",
        f"Run: digits, preset {args.preset}, {args.epochs} epochs, batch 32, torch's default threads "
        f"({_torch_threads()}; the app's run process is given as many), started from the Train page of "
        f"`streamlit run streamlit_app.py` in headless Chromium "
        f"(software rendering) on the same machine. {args.repeats} rounds, each: the CLI run, an app run watched on "
        "the Train page, an app run steered on the Assignments page.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| widget change → view updated (Assignments: layer selector and epoch slider in turn), all {len(lat)} "
        f"changes | median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms |",
        f"| … of which while the run was training | {summary(live)} |",
        f"| … of which after it had finished | {summary(after)} |",
        f"| images/s, app run watched on the Train page / CLI (median of rounds) | {100 * watch_ratio:.0f}% |",
        f"| images/s, app run steered on Assignments (a change every ~1.5 s) / CLI (median of rounds) | "
        f"{100 * steer_ratio:.0f}% |",
        f"| cold start: a fresh server's first page drawn after the browser asked, median / max of "
        f"{len(colds)} | {statistics.median(colds):.2f} / {max(colds):.2f} s |" if colds else "| cold start | – |",
        "",
        f"Mean images/s per round, CLI / watched / steered: {per_round}. CLI command: `{cli_cmd}`.",
        "Each change, ms: " + ", ".join(f"{k} {1000 * v:.0f}" for k, v in zip(kinds, lat, strict=True)) + ".",
        f"Targets: a widget change updates the view within 1 s ({'met' if worst < 1.0 else 'NOT met'}); the app's run "
        f"keeps at least 95% of the CLI's images/s (watched: {'met' if watch_ratio >= 0.95 else 'NOT met'}, steered: "
        f"{'met' if steer_ratio >= 0.95 else 'NOT met'}); a fresh server draws its first page within 2 s "
        f"({'met' if colds and max(colds) <= 2.0 else 'NOT met'}).",
        "",
        f"Command: `python bench/app_latency.py --preset {args.preset} --epochs {args.epochs} --changes {args.changes} "
        f"--repeats {args.repeats} --cold-starts {args.cold_starts}`",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_report:
        write_section("app-latency", "App latency", body)
    return 0


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
