"""App latency: while the app shows a running digits run, how fast does a widget change update the view, and how
much of the CLI's training speed does a run keep when it trains inside the app? Prints the figures and writes the
"app-latency" section of bench/REPORT.md.

    python bench/app_latency.py                   # classroom preset, 8 epochs, 12 widget changes (~3 min, 2 cores)
    python bench/app_latency.py --epochs 3 --changes 6

(a) Latency: the app is served as a user starts it (``streamlit run``) and driven from a real Chromium. The run is
started from the Train page; on the Assignments page, while the run trains, the layer selector (a click) and the epoch
slider (a key press) are changed in turn, and the time from the action to the heatmap showing the chosen layer and
epoch is measured (median and max).
(b) Throughput: images/s of the app's run (from its epochs.jsonl, epochs 1..N) against the same config trained with
``python -m ffviz train ... --no-progress`` in this script, before the app run, on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def images_per_sec(run_dir: Path) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines() if line.strip()]
    return [r["images_per_sec"] for r in rows if r.get("images_per_sec")]


def cli_run(args: argparse.Namespace, runs: Path) -> tuple[list[float], str]:
    cmd = [sys.executable, "-m", "ffviz", "train", "--preset", args.preset, "--epochs", str(args.epochs),
           "--runs-dir", str(runs), "--no-progress"]
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    run_dir = max((p for p in runs.iterdir() if (p / "epochs.jsonl").exists()), key=lambda p: p.stat().st_mtime)
    return images_per_sec(run_dir), " ".join(["python", *cmd[1:-3], "--no-progress"])


def serve(runs: Path, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "FFVIZ_RUNS_DIR": str(runs)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.fileWatcherType", "none",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the Streamlit server did not start")


def app_run(args: argparse.Namespace, runs: Path) -> tuple[list[float], list[str], list[float], int]:
    """Start the run from the browser; on Assignments, while it trains, change the layer and move the epoch slider
    in turn. Returns (latencies in s, which widget each was, images/s of the run's epochs, how many changes happened
    while the run was still training)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = tempfile.TemporaryFile("w+")
    proc = serve(runs, port, log)
    url = f"http://localhost:{port}"
    latencies, kinds, during = [], [], 0
    try:
        with sync_playwright() as p:
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
            page.get_by_test_id("stMetricValue").filter(has_text=f"/ {args.epochs}").first.wait_for()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Assignments").click()
            page.wait_for_function(SETTLED)
            run_dir = next(p for p in runs.iterdir() if (p / "config.json").exists())
            layer = 4  # the page opens on the middle layer of the 9
            for i in range(args.changes):
                slider = page.locator('input[type=range][aria-label="Epoch"]')
                if i % 2 and slider.count():
                    # the epoch slider, with the keyboard: one step back (or forward from the first epoch)
                    now = int(slider.get_attribute("aria-valuetext"))
                    key, want = ("ArrowLeft", now - 1) if now > 0 else ("ArrowRight", now + 1)
                    slider.focus()
                    t0 = time.perf_counter()
                    slider.press(key)
                    what = f"W of layer {layer} at epoch {want}"
                else:
                    layer = (layer + 3) % 9
                    page.get_by_test_id("stSelectbox").filter(has_text="Layer").click()
                    option = page.get_by_role("option", name=re.compile(rf"^layer {layer} "))
                    t0 = time.perf_counter()
                    option.click()
                    what = f"W of layer {layer} at epoch"
                try:
                    page.wait_for_function(SHOWS, arg=what, polling="raf", timeout=30_000)
                except Exception:
                    titles = page.evaluate("() => [...document.querySelectorAll('.gtitle')].map(e => e.textContent)")
                    page.screenshot(path=str(Path(tempfile.gettempdir()) / "app_latency_failure.png"))
                    raise RuntimeError(f"the view never showed {what!r}; it shows {titles}") from None
                latencies.append(time.perf_counter() - t0)
                kinds.append("epoch" if what[-1].isdigit() else "layer")
                status = json.loads((run_dir / "meta.json").read_text()).get("status")
                during += status in ("running", "paused", "queued")
                time.sleep(0.5)
            # let the run finish while the page keeps refreshing
            deadline = time.time() + 600
            while json.loads((run_dir / "meta.json").read_text()).get("status") in ("queued", "running"):
                if time.time() > deadline:
                    raise RuntimeError("the app's run did not finish")
                time.sleep(1.0)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return latencies, kinds, images_per_sec(run_dir), during


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--changes", type=int, default=12, help="widget changes to time")
    parser.add_argument("--no-report", action="store_true", help="print only; leave bench/REPORT.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cli_ips, cli_cmd = cli_run(args, Path(tmp) / "cli")
        lat, kinds, app_ips, during = app_run(args, Path(tmp) / "app")
    cli_mean, app_mean = statistics.mean(cli_ips), statistics.mean(app_ips)
    ratio = app_mean / cli_mean
    med, worst = statistics.median(lat), max(lat)
    machine = machine_description()
    lines = [
        f"Machine: {machine}.",
        f"Run: digits, preset {args.preset}, {args.epochs} epochs, batch 32, default threads "
        f"(torch {_torch_threads()}), started from the Train page of `streamlit run streamlit_app.py` in Chromium.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| widget change → view updated (Assignments: layer selector and epoch slider in turn, {len(lat)} "
        f"changes, {during} while training) | median {med * 1000:.0f} ms, max {worst * 1000:.0f} ms |",
        f"| images/s, run in the app (mean of epochs 1–{len(app_ips)}) | {app_mean:,.0f} |",
        f"| images/s, same config from the CLI (`{cli_cmd}`) | {cli_mean:,.0f} |",
        f"| app / CLI | {100 * ratio:.0f}% |",
        "",
        "Each change, ms: " + ", ".join(f"{k} {1000 * v:.0f}" for k, v in zip(kinds, lat, strict=True)) + ".",
        f"Per epoch, app: {', '.join(f'{v:,.0f}' for v in app_ips)}; CLI: {', '.join(f'{v:,.0f}' for v in cli_ips)} "
        "images/s.",
        f"Targets: a widget change updates the view within 1 s ({'met' if worst < 1.0 else 'NOT met'}); the app's run "
        f"keeps at least 80% of the CLI's images/s ({'met' if ratio >= 0.8 else 'NOT met'}).",
        "",
        f"Command: `python bench/app_latency.py --preset {args.preset} --epochs {args.epochs} "
        f"--changes {args.changes}`",
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
