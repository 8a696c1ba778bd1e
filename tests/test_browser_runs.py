"""End to end in a real Chromium: browsing finished runs and sharing screens.

Starts ``streamlit run streamlit_app.py`` on a free port with an empty runs folder (the shipped runs in assets/runs
are what there is to browse), then: the Runs page lists them; opening one shows it on Assignments, whose epoch slider
scrubs; Compare overlays two of them (the gap view: tests/test_browser_gap.py); a teacher's link
opens the Train page with its settings, hidden controls absent and locked ones disabled; a bad link shows a note.
Saves tests/screenshots/runs.png, compare.png and share_link.png.

    pytest -m browser tests/test_browser_runs.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import (
    BROWSER_MARKS,
    REPO,
    chromium,
    new_page,
    no_exception,
    screenshot,
    serve_app,
    settle_steady,
)

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(not any((REPO / "assets" / "runs").glob("*/config.json")),
                       reason="the shipped runs are not in assets/runs (bash assets/runs/make_shipped_runs.sh)"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app served as a user starts it, on an empty runs folder; yields (base URL, runs folder)."""
    with serve_app(tmp_path_factory, unset_env=("FFVIZ_SHIPPED_DIR",)) as served:  # browse the real shipped runs
        yield served


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser):
    pg = new_page(browser)
    yield pg
    pg.close()


def _key(page, key: str):
    """The element of the widget with this key (not a stale copy left from the previous run)."""
    return page.locator(f".st-key-{key}:not([data-stale='true'])")


def _pick(page, key: str, option: str) -> None:
    """Choose an option of the selectbox with this widget key, by the start of its label."""
    _key(page, key).get_by_test_id("stSelectbox").click()
    page.keyboard.type(option)  # the list is long (the Gap page's cells ship too): filter it to the option
    page.get_by_role("option", name=re.compile("^" + re.escape(option))).first.click()
    settle_steady(page)


def test_runs_page_open_a_shipped_run_and_scrub_it(app, page):
    url, runs = app
    page.goto(f"{url}/runs")
    settle_steady(page)
    no_exception(page, "Runs")
    assert page.get_by_test_id("stDataFrame").count() == 1
    shipped = len(list((REPO / "assets" / "runs").glob("*/config.json")))
    assert page.get_by_text(f"{shipped} of {shipped} runs").count() == 1
    _pick(page, "runs_pick", "learnable (default lambdas)")
    assert _key(page, "runs_open").get_by_role("button").is_enabled()
    assert page.get_by_text("cannot be deleted").count() == 1  # shipped: no delete button, and why
    assert _key(page, "runs_delete").count() == 0
    page.locator("h1").click()  # the picker lets go of the focus (no focus ring in the picture)
    shot = screenshot(page, "runs")
    assert shot.stat().st_size > 20_000

    _key(page, "runs_open").get_by_role("button").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/assignments\?.*run=.*default-lambdas"))
    settle_steady(page)
    no_exception(page, "Assignments of a shipped run")
    slider = _key(page, "asg_epoch").locator("input[type=range]")
    shipped = next((REPO / "assets" / "runs").glob("*default-lambdas"))
    last = int(max(p.stem for p in (shipped / "snapshots").glob("epoch_*.npz"))[6:])  # its last epoch
    assert slider.get_attribute("aria-valuetext") == str(last)
    slider.focus()
    for _ in range(4):
        slider.press("ArrowLeft")
    deadline = time.time() + 30
    title = ""
    while time.time() < deadline:
        settle_steady(page)
        title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first.text_content() or ""
        if f"epoch {last - 4}" in title:
            break
        time.sleep(0.3)
    assert f"epoch {last - 4}" in title, title
    assert not any(runs.iterdir()), "browsing a shipped run writes nothing"


def test_compare_two_shipped_runs(app, page):
    url, _ = app
    page.goto(f"{url}/compare")
    settle_steady(page)
    no_exception(page, "Compare")
    assert page.get_by_test_id("stPlotlyChart").count() == 3
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext").all_text_contents()
    assert "learnable (default lambdas)" in legend and "static partition" in legend
    assert page.get_by_text("Settings that differ").count() == 1
    screenshot(page, "compare")


def test_a_classroom_link_hides_and_locks(app, page):
    url, _ = app
    page.goto(f"{url}/train?lambda_entropy=0.03&epochs=5&seed=7&hide=lr,seed,stop&lock=all")
    settle_steady(page)
    no_exception(page, "Train from a classroom link")
    epochs = page.get_by_label("Epochs", exact=True)
    assert epochs.input_value() == "5" and epochs.is_disabled()
    assert page.get_by_label("Learning rate").count() == 0 and page.get_by_label("Seed", exact=True).count() == 0
    assert page.get_by_role("button", name="Stop").count() == 0
    assert page.get_by_role("button", name="Start").is_enabled()  # lock=all locks the settings, not Start
    entropy = _key(page, "cfg_lambda_entropy").locator("input[type=range]")
    assert entropy.get_attribute("aria-valuetext") == "0.03" and entropy.is_disabled()
    # the link this student would copy keeps the teacher's choices; the URL keeps them on reload
    page.get_by_text("Share this screen").click()  # opening it reruns the app: the link is made from this screen
    page.get_by_test_id("stCode").first.wait_for()
    time.sleep(1.0)
    settle_steady(page)
    link = page.get_by_test_id("stCode").first.inner_text()
    assert link.startswith(f"{url}/train?") and "hide=lr,seed,stop" in link and "lock=all" in link
    assert "hide=lr" in page.url and "lock=all" in page.url
    screenshot(page, "share_link")

    page.goto(f"{url}/train?epochs=abc&wings=3&run=nope")
    settle_steady(page)
    no_exception(page, "Train from a bad link")
    note = page.get_by_test_id("stAlert").filter(has_text="Parts of this link were not used").inner_text()
    assert "epochs='abc'" in note and "'wings'" in note and "'nope'" in note
