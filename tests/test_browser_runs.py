"""End to end in a real Chromium: browsing finished runs and sharing screens.

Starts ``streamlit run streamlit_app.py`` on a free port with an empty runs folder (the shipped runs in assets/runs
are what there is to browse), then: the Runs page lists them; opening one shows it on Assignments, whose epoch slider
scrubs; Compare overlays two of them; the gap view sets learnable, static and backprop side by side; a teacher's link
opens the Train page with its settings, hidden controls absent and locked ones disabled; a bad link shows a note.
Saves tests/screenshots/runs.png, compare.png, gap.png and share_link.png.

    pytest -m browser tests/test_browser_runs.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "tests" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# True once the script has finished and every Plotly chart on the page has drawn.
SETTLED = """() => {
  if (!document.querySelector('h1')) return false;
  const w = document.querySelector('[data-testid="stStatusWidget"]');
  if (w && /Running/i.test(w.innerText)) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
}"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); the browser tests drive it through Playwright"),
    pytest.mark.skipif(not any((REPO / "assets" / "runs").glob("*/config.json")),
                       reason="the shipped runs are not in assets/runs (bash assets/runs/make_shipped_runs.sh)"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app served as a user starts it, on an empty runs folder; yields (base URL, runs folder)."""
    runs = tmp_path_factory.mktemp("runs")
    port = _free_port()
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w+")  # noqa: SIM115 - closed below
    env = {**os.environ, "FFVIZ_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    env.pop("FFVIZ_SHIPPED_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.fileWatcherType", "none",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://localhost:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"the Streamlit server did not start:\n{log.read()[-3000:]}")
            time.sleep(0.5)
        yield url, runs
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.seek(0)
        print(log.read()[-4000:])
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1600, "height": 1000})
    pg.set_default_timeout(60_000)
    yield pg
    pg.close()


def _settle(page, timeout: float = 90_000) -> None:
    page.wait_for_function(SETTLED, timeout=timeout)
    time.sleep(0.3)
    page.wait_for_function(SETTLED, timeout=timeout)


def _no_exception(page, where: str) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, f"{where}: {errors.first.inner_text()}"


def _screenshot(page, name: str) -> Path:
    """The whole page at projector width: the viewport grows to the page's height before the picture."""
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": 1600, "height": max(1000, min(int(height) + 40, 4000))})
    time.sleep(0.8)
    _settle(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1600, "height": 1000})
    return path


def _key(page, key: str):
    """The element of the widget with this key (not a stale copy left from the previous run)."""
    return page.locator(f".st-key-{key}:not([data-stale='true'])")


def _pick(page, key: str, option: str) -> None:
    """Choose an option of the selectbox with this widget key, by the start of its label."""
    _key(page, key).get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(option))).first.click()
    _settle(page)


def test_runs_page_open_a_shipped_run_and_scrub_it(app, page):
    url, runs = app
    page.goto(f"{url}/runs")
    _settle(page)
    _no_exception(page, "Runs")
    assert page.get_by_test_id("stDataFrame").count() == 1
    assert page.get_by_text("5 of 5 runs").count() == 1
    _pick(page, "runs_pick", "learnable (default lambdas)")
    assert _key(page, "runs_open").get_by_role("button").is_enabled()
    assert page.get_by_text("cannot be deleted").count() == 1  # shipped: no delete button, and why
    assert _key(page, "runs_delete").count() == 0
    page.locator("h1").click()  # the picker lets go of the focus (no focus ring in the picture)
    shot = _screenshot(page, "runs")
    assert shot.stat().st_size > 20_000

    _key(page, "runs_open").get_by_role("button").click()
    page.wait_for_url(re.compile(rf"{re.escape(url)}/assignments\?.*run=.*default-lambdas"))
    _settle(page)
    _no_exception(page, "Assignments of a shipped run")
    slider = _key(page, "asg_epoch").locator("input[type=range]")
    assert slider.get_attribute("aria-valuetext") == "12"
    slider.focus()
    for _ in range(4):
        slider.press("ArrowLeft")
    deadline = time.time() + 30
    title = ""
    while time.time() < deadline:
        _settle(page)
        title = page.locator("[data-testid='stPlotlyChart'] .gtitle").first.text_content() or ""
        if "epoch 8" in title:
            break
        time.sleep(0.3)
    assert "epoch 8" in title, title
    assert not any(runs.iterdir()), "browsing a shipped run writes nothing"


def test_compare_two_shipped_runs(app, page):
    url, _ = app
    page.goto(f"{url}/compare")
    _settle(page)
    _no_exception(page, "Compare")
    assert page.get_by_test_id("stPlotlyChart").count() == 3
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext").all_text_contents()
    assert "learnable (default lambdas)" in legend and "static partition" in legend
    assert page.get_by_text("Settings that differ").count() == 1
    _screenshot(page, "compare")


def test_the_gap_view(app, page):
    url, _ = app
    page.goto(f"{url}/gap")
    _settle(page)
    _no_exception(page, "Gap")
    assert page.get_by_test_id("stPlotlyChart").count() == 4
    legend = page.locator("[data-testid='stPlotlyChart'] .legendtext").all_text_contents()
    assert {"learnable (CAW-Conv)", "static partition", "backprop"} <= set(legend)
    _screenshot(page, "gap")


def test_a_classroom_link_hides_and_locks(app, page):
    url, _ = app
    page.goto(f"{url}/train?lambda_entropy=0.03&epochs=5&seed=7&hide=lr,seed,stop&lock=all")
    _settle(page)
    _no_exception(page, "Train from a classroom link")
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
    _settle(page)
    link = page.get_by_test_id("stCode").first.inner_text()
    assert link.startswith(f"{url}/train?") and "hide=lr,seed,stop" in link and "lock=all" in link
    assert "hide=lr" in page.url and "lock=all" in page.url
    _screenshot(page, "share_link")

    page.goto(f"{url}/train?epochs=abc&wings=3&run=nope")
    _settle(page)
    _no_exception(page, "Train from a bad link")
    note = page.get_by_test_id("stAlert").filter(has_text="Parts of this link were not used").inner_text()
    assert "epochs='abc'" in note and "'wings'" in note and "'nope'" in note
