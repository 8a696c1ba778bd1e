"""End to end in a real Chromium: a run is a process of its own, and killing it harms no page.

Starts ``streamlit run streamlit_app.py`` on an empty runs folder; on the Train page presses Start (classroom-mini,
many epochs), waits for the run to train, then SIGKILLs the run's process (its pid from the heartbeat in its folder,
which is not the server's). The Train page must say the run was interrupted, with Resume offered, and every other
page must still draw without an error. Saves tests/screenshots/killed_run.png.

    pytest -m browser tests/test_browser_process.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from browser_support import BROWSER_MARKS, chromium, new_page, no_exception, screenshot, serve_app, settle

from ffviz.store.runstate import HEARTBEAT

PAGES = [("Home", ""), ("Assignments", "assignments"), ("Regularizers", "regularizers"), ("Goodness", "goodness"),
         ("Layer contributions", "contributions"), ("Runs", "runs"), ("Compare runs", "compare"), ("The gap", "gap"),
         ("Train", "train")]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory) as served:
        yield served


def _trained_epochs(run_dir) -> int:
    path = run_dir / "epochs.jsonl"
    return path.read_bytes().count(b"\n") - 1 if path.exists() else -1


def test_killing_a_runs_process_shows_it_interrupted_and_every_page_still_draws(app):
    url, runs = app
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/train?preset=classroom-mini&epochs=300&batch_size=64&image_size=8&device=cpu")
        settle(page)
        no_exception(page, "Train, before any run")
        page.get_by_role("button", name="Start").click()
        deadline = time.time() + 150
        while not (dirs := [d for d in runs.iterdir() if (d / HEARTBEAT).exists()]) or _trained_epochs(dirs[0]) < 1:
            assert time.time() < deadline, "the run never trained an epoch"
            time.sleep(0.3)
        (run_dir,) = dirs
        pid = json.loads((run_dir / HEARTBEAT).read_text())["pid"]
        server_pids = {int(p) for p in os.listdir("/proc") if p.isdigit()
                       and b"streamlit" in open(f"/proc/{p}/cmdline", "rb").read()}
        assert pid not in server_pids, "the run trains in a process of its own, not in the server"
        page.get_by_text(re.compile(r"^running · ")).wait_for(timeout=60_000)
        os.kill(pid, signal.SIGKILL)

        page.get_by_text("This run was interrupted").wait_for(timeout=30_000)
        settle(page)
        no_exception(page, "Train, after the kill")
        assert not page.get_by_role("button", name="Resume").is_disabled()
        screenshot(page, "killed_run")
        for title, path in PAGES:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
            page.wait_for_url(re.compile(rf"{re.escape(url)}/{path}(\?.*)?$"))
            settle(page)
            no_exception(page, title)
            assert page.locator("h1").count() >= 1, f"{title} did not draw"
        assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"
