"""What the browser tests share: the app served as a user starts it, Debian's Chromium driven by Playwright, and
waiting for a page to settle before reading it or taking its picture.

Importing this module skips the importing test module when the playwright package is not installed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

from ffviz.runner.manager import stop_runs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "tests" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1600, "height": 1000}  # a projector's width
# True once the script has finished and every Plotly chart on the page has drawn.
SETTLED = """() => {
  if (!document.querySelector('h1')) return false;
  const w = document.querySelector('[data-testid="stStatusWidget"]');
  if (w && /Running/i.test(w.innerText)) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
}"""

# Every browser test module starts its pytestmark with these.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium); the browser tests drive it through Playwright"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_app(tmp_path_factory: pytest.TempPathFactory, *, unset_env: tuple[str, ...] = (),
              args: tuple[str, ...] = (), port: int | None = None) -> Iterator[tuple[str, Path]]:
    """``streamlit run streamlit_app.py`` on a free port with an empty runs folder; yields (base URL, runs folder)
    once the server answers, and stops it at the end, printing the tail of its log (shown for a failing test).
    ``unset_env`` names variables of this process that the server must not see; ``args`` go to ``streamlit run``
    (``--secrets.files`` for a test's own secrets.toml); ``port``: this one (a redirect URI names it)."""
    runs = tmp_path_factory.mktemp("runs")
    port = port or free_port()
    # One torch thread: these tests are about the UI, and one thread keeps training steady on a busy 2-core machine.
    env = {**os.environ, "FFVIZ_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1"}
    for name in unset_env:
        env.pop(name, None)
    with open(tmp_path_factory.mktemp("log") / "streamlit.log", "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port",
                                 str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
                                 "--browser.gatherUsageStats", "false", *args], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        url = f"http://localhost:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield url, runs
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            stop_runs(runs)  # runs are processes of their own: they outlive a server unless stopped
            log.seek(0)
            print(log.read()[-4000:])


def _wait_healthy(url: str, proc: subprocess.Popen, log: IO[str], timeout: float = 90) -> None:
    """Until the server says it is up; fails the test with its log if it exits or takes longer than ``timeout``."""
    deadline = time.time() + timeout
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.seek(0)
            pytest.fail(f"the Streamlit server did not start:\n{log.read()[-3000:]}")
        time.sleep(0.5)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed at the end."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser) -> Page:
    """A tab at projector size whose waits allow a busy machine a minute."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    return page


def settle(page: Page, timeout: float = 90_000) -> None:
    page.wait_for_function(SETTLED, timeout=timeout)


def settle_steady(page: Page, timeout: float = 90_000) -> None:
    """Settled, and still settled a moment later: a rerun that starts just after the first wait is waited out too."""
    settle(page, timeout)
    time.sleep(0.3)
    settle(page, timeout)


def no_exception(page: Page, where: str) -> None:
    errors = page.get_by_test_id("stException")
    assert errors.count() == 0, f"{where}: {errors.first.inner_text()}"


def screenshot(page: Page, name: str) -> Path:
    """The whole page at projector width, saved as tests/screenshots/<name>.png: the viewport grows to the page's
    height before the picture."""
    height = page.evaluate("() => (document.querySelector('[data-testid=\"stMain\"]') || document.body).scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(1000, min(int(height) + 40, 4000))})
    time.sleep(0.8)
    settle_steady(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    return path


def metric(page: Page, label: str) -> str:
    """The value of the st.metric with this label ("" while its fragment is being redrawn)."""
    box = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label,
                                                                                                     exact=True))
    try:
        return box.get_by_test_id("stMetricValue").inner_text(timeout=5_000).strip()
    except Exception:  # the fragment is being redrawn
        return ""


def wait_metric(page: Page, label: str, pattern: str, timeout: float = 120) -> str:
    """Wait until the metric's value matches the regular expression; returns it."""
    deadline, value = time.time() + timeout, ""
    while time.time() < deadline:
        value = metric(page, label)
        if re.fullmatch(pattern, value):
            return value
        time.sleep(0.3)
    raise AssertionError(f"metric {label!r} never matched {pattern!r}; last value {value!r}")
