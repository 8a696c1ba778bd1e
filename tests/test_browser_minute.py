"""A class's first minute, in a real Chromium (issue 26): charts legible at projector sizes, every request to the
app's own server, a new tab on no stranger's run, and a sweep that Enter does not start and Cancel takes back.

    pytest -m browser tests/test_browser_minute.py      # needs Debian's chromium at /usr/bin/chromium

The chart screenshots land in tests/screenshots/minute_*.png (look at them).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser_support import BROWSER_MARKS, SHOTS, chromium, no_exception, serve_app, settle_steady

from ffviz.runner.manager import stop_runs

pytestmark = BROWSER_MARKS
SIZES = ({"width": 1280, "height": 720}, {"width": 1400, "height": 900})
# Each Plotly chart on the page: its width and its plotting area's width (Plotly's own layout numbers).
PLOT_WIDTHS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .filter(gd => gd._fullLayout && gd.offsetParent !== null)
  .map(gd => ({chart: gd._fullLayout.width, plot: gd._fullLayout._size.w,
               title: (gd._fullLayout.title && gd._fullLayout.title.text) || ''}))"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory) as served:
        yield served


def _meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def _runs(runs: Path) -> list[Path]:
    return sorted(p for p in runs.iterdir() if (p / "config.json").exists())


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _goto(page, url: str) -> None:
    page.goto(url)
    settle_steady(page)
    no_exception(page, url)


def _check_widths(page, where: str) -> list[dict]:
    charts = page.evaluate(PLOT_WIDTHS)
    assert charts, f"{where}: no chart drawn"
    for c in charts:
        assert c["plot"] >= 0.6 * c["chart"], f"{where}: {c['title']!r} plots {c['plot']} px of {c['chart']} px"
    return charts


def _shoot(page, name: str) -> None:
    """What the projector shows with the page scrolled to its first chart (Streamlit scrolls its main area itself,
    so a full-page picture would hold the viewport only)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # a live fragment may redraw the chart under the scroll: try again
        try:
            page.get_by_test_id("stPlotlyChart").first.scroll_into_view_if_needed(timeout=10_000)
            break
        except Exception:
            time.sleep(0.5)
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_charts_fill_their_width_at_projector_sizes_and_no_request_leaves_the_server(app):
    url, runs = app
    host = urlparse(url).hostname
    with chromium() as browser:
        context = browser.new_context(viewport=SIZES[1])
        page = context.new_page()
        page.set_default_timeout(90_000)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        _goto(page, f"{url}/train")
        page.get_by_role("button", name="Start").click()
        _wait(lambda: any(_meta(d).get("epochs_done", 0) >= 3 for d in _runs(runs)), 240, "three epochs")
        settle_steady(page)
        for size in SIZES:
            page.set_viewport_size(size)
            settle_steady(page)
            _check_widths(page, f"Train (live) at {size['width']}")
            _shoot(page, f"minute_train_live_{size['width']}")
        _wait(lambda: all(_meta(d).get("status") == "finished" for d in _runs(runs)), 240, "the run's end")
        page.get_by_role("button", name="Retrain").click()
        _wait(lambda: len(_runs(runs)) == 2 and _meta(_runs(runs)[-1]).get("epochs_done", 0) >= 2, 240,
              "the retrained run's epochs")
        settle_steady(page)
        for size in SIZES:
            page.set_viewport_size(size)
            settle_steady(page)
            charts = _check_widths(page, f"Train (after Retrain) at {size['width']}")
            _shoot(page, f"minute_train_retrain_{size['width']}")
            assert len(charts) >= 2
        for name in ("assignments", "regularizers", "sweep", "runs", "home"):
            for size in SIZES:
                page.set_viewport_size(size)
                _goto(page, f"{url}/{name}")
                if name in ("assignments", "regularizers"):
                    _check_widths(page, f"{name} at {size['width']}")
                    _shoot(page, f"minute_{name}_{size['width']}")
        context.close()
    outside = sorted({u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
                      and urlparse(u).hostname not in (host, "localhost", "127.0.0.1")})
    assert requests and outside == [], outside


def test_a_new_tab_opens_no_strangers_run(app):
    url, runs = app
    with chromium() as browser:
        mine = browser.new_context(viewport=SIZES[1])
        page = mine.new_page()
        page.set_default_timeout(90_000)
        _goto(page, f"{url}/train")
        before = {d.name for d in _runs(runs)}
        page.get_by_role("button", name="Start").click()
        _wait(lambda: len({d.name for d in _runs(runs)} - before) == 1, 60, "the new run")
        [own] = {d.name for d in _runs(runs)} - before
        settle_steady(page)
        _goto(page, f"{url}/assignments")
        assert f"run={own}" in page.url  # the student's own run follows them
        stranger = browser.new_context(viewport=SIZES[1])
        other = stranger.new_page()
        other.set_default_timeout(90_000)
        _goto(other, f"{url}/train")
        shown = re.search(r"run=([^&]+)", other.url)
        assert shown is None or shown.group(1) != own, other.url
        assert shown is None or shown.group(1) not in {d.name for d in _runs(runs)}, other.url  # a shipped run
        _goto(other, f"{url}/train?run={own}")  # a link that names a run opens it
        assert other.get_by_text(own).count() >= 1
        mine.close()
        stranger.close()


def test_enter_starts_no_sweep_and_cancel_frees_the_queue(app):
    url, runs = app
    stop_runs(runs)  # the other tests' runs: the sweep's share of the slots is the subject here
    with chromium() as browser:
        context = browser.new_context(viewport=SIZES[1])
        page = context.new_page()
        page.set_default_timeout(90_000)
        _goto(page, f"{url}/sweep")
        expander = page.get_by_text("Start a sweep or a class experiment")
        if page.locator(".st-key-sweep_name input").count() == 0 or not page.locator(
                ".st-key-sweep_name input").is_visible():
            expander.click()
        name = page.locator(".st-key-sweep_name input")
        name.fill("enter test")
        name.press("Enter")
        page.locator(".st-key-sweep_v1 input").press("Enter")
        time.sleep(3)
        settle_steady(page)
        assert not (runs / "sweeps").exists() or not any((runs / "sweeps").iterdir())
        before = {d.name for d in _runs(runs)}
        page.get_by_role("button", name=re.compile("Start every run now")).click()  # 3 x 3 cells x 2 seeds
        settle_steady(page)
        no_exception(page, "Sweep after Start")
        _wait(lambda: len({d.name for d in _runs(runs)} - before) == 18, 60, "18 runs")
        swept = [runs / n for n in {d.name for d in _runs(runs)} - before]
        _wait(lambda: any(_meta(d).get("status") in ("starting", "running") for d in swept), 120, "a sweep run")
        assert sum(_meta(d).get("status") in ("starting", "running") for d in swept) <= 1  # its own share
        page.get_by_role("button", name="Cancel this sweep").click()
        t0 = time.time()
        _wait(lambda: not any(_meta(d).get("status") == "queued" for d in swept), 5, "the queue freed")
        freed = time.time() - t0
        cancelled = page.get_by_text(re.compile(r"Cancelled .*run\(s\) stopped"))
        cancelled.first.wait_for(timeout=30_000)  # the rerun after the click says what it did (a later rerun clears it)
        assert cancelled.count() == 1
        _wait(lambda: not any(_meta(d).get("status") in ("queued", "starting", "running", "paused") for d in swept),
              240, "every run of the sweep ended")  # a running one stops at its next batch (after its start)
        settle_steady(page)
        no_exception(page, "Sweep after Cancel")
        print(f"queue freed {freed:.2f} s after the Cancel click")
        context.close()
