"""Click to first batch: from the click on Start in a real browser to the run's first training batch recorded in its
folder (batches.jsonl), the app served as a user starts it, the Train page on its defaults (the classroom recipe).
Writes the "first-batch" section of bench/REPORT.md.

    python bench/first_batch.py                    # 5 Starts, with the warm launcher (the app's default)
    python bench/first_batch.py --starts 5 --cold  # the same with FFVIZ_WARM_SPARES=0: a fresh process per run
    python bench/first_batch.py --label loaded     # say in the report that the machine was busy

Each Start waits for the previous run to end and for the server's spare process to be ready (its log says so), as
a class's next Start would find it a few seconds later; the time is the page's click to the first line of the new
run's batches.jsonl, polled every 5 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.appserver import AppServer  # noqa: E402
from bench.report import machine_description, write_section  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SETTLED = """() => { const w = document.querySelector('[data-testid="stStatusWidget"]');
  return !!document.querySelector('h1') && !(w && /Running/i.test(w.innerText)); }"""


def _runs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if (p / "config.json").exists()}


def _status(run_dir: Path) -> str:
    import json
    try:
        return json.loads((run_dir / "meta.json").read_text()).get("status", "")
    except (OSError, ValueError):
        return ""


def _spare_ready(root: Path, used: int) -> bool:
    """The log of spares holds one "ready" line per spare started: one more than the spares used so far."""
    log = root / ".spare.log"
    return log.exists() and log.read_text().count(": ready") > used


def one_start(page, runs: Path, timeout: float) -> tuple[float, str]:
    before = _runs(runs)
    page.wait_for_function(SETTLED, timeout=120_000)
    start = page.get_by_role("button", name="Start", exact=True)
    start.wait_for(state="visible")
    t0 = time.perf_counter()
    start.click()
    new = None
    while time.perf_counter() - t0 < timeout:
        new = new or next(iter(_runs(runs) - before), None)
        if new is not None:
            batches = runs / new / "batches.jsonl"
            if batches.exists() and batches.stat().st_size > 0:
                return time.perf_counter() - t0, new
        time.sleep(0.005)
    raise RuntimeError(f"no first batch within {timeout} s (run {new})")


def measure(starts: int, *, warm: bool, timeout: float) -> list[dict]:
    from playwright.sync_api import sync_playwright

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        runs.mkdir()
        env = {"FFVIZ_WARM_SPARES": "1" if warm else "0"}
        with AppServer(runs, env=env) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"{server.url}/train")
            for i in range(starts):
                deadline = time.time() + 120
                while warm and not _spare_ready(runs, i) and time.time() < deadline:
                    time.sleep(0.1)
                seconds, run = one_start(page, runs, timeout)
                out.append({"start": i + 1, "seconds": seconds, "run": run})
                print(f"  Start {i + 1}: first batch after {seconds:.2f} s ({run})", flush=True)
                while _status(runs / run) not in ("finished", "failed", "stopped") and time.time() < deadline:
                    time.sleep(0.2)
                page.reload()
            browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="no spare process (FFVIZ_WARM_SPARES=0)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--label", default="quiet", help="how busy the machine was: quiet or loaded")
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args()
    machine = machine_description()
    load = os.getloadavg()[0]
    print(f"machine: {machine}; load average {load:.1f}", flush=True)
    starts = measure(args.starts, warm=not args.cold, timeout=args.timeout)
    median = statistics.median(s["seconds"] for s in starts)
    print(f"click -> first batch: median {median:.2f} s over {len(starts)} Starts", flush=True)
    if args.no_report:
        return 0
    how = "a fresh process per run (FFVIZ_WARM_SPARES=0)" if args.cold else "the warm launcher (one spare process)"
    body = (f"Machine: {machine}; {args.label} (load average {load:.1f} at the start). Command: "
            f"`python bench/first_batch.py --starts {args.starts}{' --cold' if args.cold else ''} --label "
            f"{args.label}`.\n\n"
            f"The app (`streamlit run`, empty runs folder) in headless Chromium, the Train page on its defaults (the "
            f"classroom recipe), {how}: from the click on Start to the first line of the new run's batches.jsonl. "
            "Each Start after the previous run ended and the next spare was ready.\n\n"
            "| Start | seconds to the first batch |\n| --- | --- |\n"
            + "\n".join(f"| {s['start']} | {s['seconds']:.2f} |" for s in starts) +
            f"\n\n**Click to first batch: median {median:.2f} s** over {len(starts)} Starts (goal <= 2 s on a quiet "
            "2-core machine).")
    write_section("first-batch", "Click to first batch", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
