"""End to end in a real Chromium: the app as a user meets it.

Starts ``streamlit run streamlit_app.py`` on a free port with an empty runs folder, then, in the browser: on the
Train page picks the classroom-mini preset and 2 epochs, presses Start, watches the epoch counter and the charts
update, moves the λ_entropy slider during the run and sees the change recorded and marked, visits every page, opens
the same URL in a new tab (the run is still shown), and saves a screenshot of every page in tests/screenshots/.

    pytest -m browser tests/test_browser.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    BROWSER_MARKS,
    VIEWPORT,
    chromium,
    metric,
    new_page,
    no_exception,
    screenshot,
    serve_app,
    settle,
    settle_steady,
    wait_metric,
)

VIEWS = [("home", "Home", ""), ("train", "Train", "train"), ("assignments", "Assignments", "assignments"),
         ("regularizers", "Regularizers", "regularizers"), ("goodness", "Goodness", "goodness"),
         ("contributions", "Layer contributions", "contributions")]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app served as a user starts it; yields (base URL, runs folder). The server is stopped at the end."""
    with serve_app(tmp_path_factory) as served:
        yield served


def _set_number(page, label: str, value: int) -> None:
    """Type a number into a number input and make sure the app took it (a rerun in flight can swallow a first try)."""
    box = page.get_by_label(label, exact=True)
    for _ in range(4):
        # While a script run is in flight the page can hold the old and the new copy of a block (Streamlit keeps the
        # stale one until the run ends, when an element above it came or went): type only into a settled page.
        settle_steady(page)
        box.fill(str(value))
        box.press("Enter")
        time.sleep(0.5)
        settle(page)
        time.sleep(0.5)
        if box.input_value() == str(value):
            return
    raise AssertionError(f"could not set {label} to {value}; it shows {box.input_value()!r}")


def _heatmap_row_point(page, row: int) -> tuple[float, float]:
    """Page coordinates of a heatmap row's strongest cell, where its click target sits."""
    plot = page.get_by_test_id("stPlotlyChart").first.locator(".js-plotly-plot")
    box = plot.bounding_box()
    x, y = plot.evaluate("""(gd, row) => { const L = gd._fullLayout, m = gd._fullData[1];
        return [L._size.l + L.xaxis.l2p(m.x[row]), L._size.t + L.yaxis.l2p(m.y[row])]; }""", row)
    return box["x"] + x, box["y"] + y


def test_train_on_digits_watch_steer_and_visit_every_page(app):
    url, runs = app
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/train")
        settle(page)
        no_exception(page, "Train, before any run")

        # Settings, as a user sets them.
        page.get_by_test_id("stSelectbox").filter(has_text="Network preset").click()
        page.get_by_role("option", name=re.compile(r"^classroom-mini")).click()
        settle_steady(page)  # the preset's rerun: the settings below it are redrawn
        _set_number(page, "Epochs", 2)

        # "One epoch" right after Start: the run trains its first epoch and pauses, whatever the machine's speed.
        page.get_by_role("button", name="Start").click()
        page.get_by_role("button", name="One epoch").click(timeout=60_000)
        wait_metric(page, "Epoch", r"[01] / 2", timeout=60)  # the run's own counter, not the settings'
        wait_metric(page, "Epoch", r"1 / 2", timeout=150)
        wait_metric(page, "Images / s", r"[\d,]+")
        page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first.wait_for()

        # Move λ_entropy with the keyboard while the run is going (paused after its first epoch).
        slider = page.locator('input[type=range][aria-label="λ_entropy"]')
        before = slider.get_attribute("aria-valuetext")
        slider.focus()
        slider.press("ArrowRight")
        deadline = time.time() + 10
        while slider.get_attribute("aria-valuetext") == before and time.time() < deadline:
            time.sleep(0.2)
        assert (before, slider.get_attribute("aria-valuetext")) == ("0.01", "0.03")
        time.sleep(1.5)  # the slider commits its value to the server
        page.get_by_role("button", name="Resume").click(timeout=60_000)
        page.get_by_text("Change recorded").wait_for(timeout=120_000)
        note = page.get_by_test_id("stMarkdownContainer").filter(has_text="Change recorded").first.inner_text()
        assert "λ_entropy 0.01 → 0.03" in note
        wait_metric(page, "Epoch", r"2 / 2", timeout=150)
        page.get_by_text("Finished. Test accuracy").wait_for(timeout=60_000)
        settle(page)
        flags = page.locator(".annotation-text", has_text="λe=0.03")
        assert flags.count() >= 1, "the λ change is not marked on the charts"
        no_exception(page, "Train, after the run")
        run_url = page.url
        assert "run=" in run_url

        # Every page, through the sidebar navigation, as a user clicks it; a picture of each.
        for name, title, path in VIEWS:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
            page.wait_for_url(re.compile(rf"{re.escape(url)}/{path}(\?.*)?$"))
            settle(page)
            no_exception(page, title)
            if name != "home":  # every view shows its charts
                page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] "
                                       ".main-svg').length >= 2", timeout=60_000)
            if name == "assignments":  # click a channel of the heatmap: its class weights over time appear
                x, y = _heatmap_row_point(page, row=2)
                page.mouse.move(x, y)
                page.mouse.click(x, y)
                page.get_by_text("its class weights over time").wait_for(timeout=60_000)
                settle(page)
            shot = screenshot(page, name)
            assert shot.stat().st_size > 20_000

        # Closing the tab and coming back on the same URL finds the same run.
        page.close()
        again = browser.new_page(viewport=VIEWPORT)
        again.goto(run_url)
        settle(again)
        assert metric(again, "Epoch").strip() == "2 / 2"
    run_dirs = [d for d in runs.iterdir() if (d / "config.json").exists()]
    assert len(run_dirs) == 1
    events = (run_dirs[0] / "events.jsonl").read_text()
    assert '"action": "set"' in events and '"action": "step"' in events
