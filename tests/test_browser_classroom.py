"""End to end in a real Chromium, on a server with a teacher password: two browsers (two contexts, two cookie jars)
share it. The first starts a run and, after a reload and in a new tab, still steers it; the second opens the same run
and can only watch: Pause, One epoch, Stop disabled with the reason, Continue and Delete disabled on the Runs page;
the run goes on. The teacher signs in and stops it. Saves tests/screenshots/classroom_watch.png.

    pytest -m browser tests/test_browser_classroom.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import os
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import BROWSER_MARKS, VIEWPORT, chromium, no_exception, screenshot, serve_app, settle_steady

from ffviz.server.access import COOKIE
from ffviz.store.runs import RunReader

pytestmark = BROWSER_MARKS
PASSWORD = "open sesame"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    os.environ["FFVIZ_TEACHER_PASSWORD"] = PASSWORD  # the server's, as a classroom starts it
    try:
        with serve_app(tmp_path_factory) as served:
            yield served
    finally:
        del os.environ["FFVIZ_TEACHER_PASSWORD"]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def tab(context):
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def key(page, name: str):
    return page.locator(f".st-key-{name}:not([data-stale='true'])")


def enabled(page, name: str) -> bool:
    return key(page, name).get_by_role("button").is_enabled()


def wait_status(runs, run_id: str, status: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while RunReader(runs / run_id).meta.get("status") != status:
        assert time.time() < deadline, f"{run_id} did not reach {status}"
        time.sleep(0.5)


def test_a_second_browser_watches_but_cannot_steer_the_first_ones_run(app, browser):
    url, runs = app
    first = browser.new_context(viewport=VIEWPORT)
    second = browser.new_context(viewport=VIEWPORT)
    teacher = browser.new_context(viewport=VIEWPORT)
    try:
        a = tab(first)
        a.goto(f"{url}/train?preset=classroom-mini&epochs=300&device=cpu")
        settle_steady(a)
        key(a, "btn_start").get_by_role("button").click()
        a.wait_for_url(re.compile(r"run="))
        run_id = parse_qs(urlparse(a.url).query)["run"][0]
        wait_status(runs, run_id, "running")
        assert any(c["name"] == COOKIE for c in first.cookies()), "the session's token is kept in a cookie"
        owner = RunReader(runs / run_id).meta["owner"]
        assert {c["name"]: c["value"] for c in first.cookies()}[COOKIE] == owner
        assert all(run_id not in c["value"] and owner not in a.url for c in first.cookies())  # never in the URL

        # The owner, after a reload and in a tab opened later (the first one closed), still steers it.
        a.reload()
        settle_steady(a)
        assert enabled(a, "btn_stop") and enabled(a, "btn_pause")
        a.close()
        a = tab(first)
        a.goto(f"{url}/train?run={run_id}")
        settle_steady(a)
        assert enabled(a, "btn_stop")

        # Another browser: it opens and watches the run, and cannot steer it.
        b = tab(second)
        b.goto(f"{url}/train?run={run_id}")
        settle_steady(b)
        no_exception(b, "Train, watching")
        for name in ("btn_pause", "btn_step", "btn_stop", "btn_resume"):
            assert not enabled(b, name), name
        assert b.get_by_text("Another session started this run").count() >= 1
        shot = screenshot(b, "classroom_watch")
        assert shot.exists()
        b.goto(f"{url}/runs?run={run_id}")
        settle_steady(b)
        no_exception(b, "Runs, watching")
        assert not enabled(b, "runs_continue") and not enabled(b, "runs_delete")
        time.sleep(2)
        assert RunReader(runs / run_id).meta["status"] == "running" and (runs / run_id).exists()

        # The teacher signs in (the password never travels in a link) and stops it.
        t = tab(teacher)
        t.goto(f"{url}/train?run={run_id}")
        settle_steady(t)
        assert not enabled(t, "btn_stop")
        t.get_by_text("Teacher sign-in").click()
        t.get_by_label("Teacher password").fill(PASSWORD)
        t.get_by_role("button", name="Sign in").click()
        settle_steady(t)
        assert enabled(t, "btn_stop")
        key(t, "btn_stop").get_by_role("button").click()
        wait_status(runs, run_id, "stopped")
    finally:
        for context in (first, second, teacher):
            context.close()
