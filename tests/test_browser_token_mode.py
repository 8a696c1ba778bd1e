"""The token mode (no school accounts, no proxy declared) on a real server, with a teacher password, every browser on
loopback: forged forwarded headers change nothing (issue 27 hole 5, issue 28's forged identity), 8 spoofed
addresses during a throttle get at most 1 try heard, the uploads disk bound holds per address whatever the cookies
(hole 9), sessions per address are capped with a clear message (hole 13), and students see no teacher's panel while
the Classroom-link box says what binds (issue 26 point 8).

    pytest -m browser tests/test_browser_token_mode.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import BROWSER_MARKS, VIEWPORT, chromium, no_exception, serve_app, settle_steady
from run_support import finished_tiny_run

from ffviz.server.access import COOKIE
from ffviz.server.signin import FREE_TRIES, delay_after
from ffviz.store.archive import export_archive, import_upload
from ffviz.store.catalog import folder_size
from ffviz.store.runs import RunReader

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse"
SESSIONS = 10  # max_sessions_per_client on this server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    src = finished_tiny_run(tmp_path_factory.mktemp("src"))
    archive = tmp_path_factory.mktemp("files") / "tiny.zip"
    archive.write_bytes(export_archive(src))
    mp = pytest.MonkeyPatch()
    mp.setenv("FFVIZ_TEACHER_PASSWORD", PASSWORD)
    mp.setenv("FFVIZ_LIMIT_MAX_SESSIONS_PER_CLIENT", str(SESSIONS))
    one = import_upload(archive.read_bytes(), tmp_path_factory.mktemp("measure"), filename="tiny.zip")
    mp.setenv("FFVIZ_LIMIT_MAX_UPLOADS_BYTES", str(int(folder_size(one) * 2.5)))  # two uploads, not three
    mp.setenv("FFVIZ_MAX_RUNNING", "1")
    try:
        with serve_app(tmp_path_factory, unset_env=("FFVIZ_TRUSTED_PROXY", "FFVIZ_PROXY_USER_HEADER",
                                                    "FFVIZ_TEACHERS")) as (url, runs), chromium() as browser:
            yield url, runs, browser, archive
    finally:
        mp.undo()


def student(browser, **headers):
    ctx = browser.new_context(viewport=VIEWPORT, extra_http_headers=headers or None)
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    return ctx, page


def open_signin(page, url: str) -> None:
    page.goto(f"{url}/runs")
    settle_steady(page)
    page.get_by_text("Teacher sign-in").click()
    page.get_by_label("Teacher password").wait_for()


def outcome(page) -> str:
    settle_steady(page)
    if page.get_by_text("That is not the teacher password.").count():
        return "heard"
    if page.get_by_text(re.compile(r"Too many wrong passwords")).count():
        return "refused"
    return "?"


def test_forged_headers_change_nothing_and_students_see_no_teachers_panel(server):
    url, runs, browser, _ = server
    ctx, page = student(browser, **{"X-Forwarded-For": "10.9.9.9", "X-Forwarded-User": "teacher",
                                    "X-Forwarded-Email": "teacher@school.edu"})
    page.goto(f"{url}/train?preset=classroom-mini&epochs=300&device=cpu")
    settle_steady(page)
    assert page.get_by_text("Classroom settings (teacher)").count() == 0  # a student: no teacher's panel
    assert page.get_by_text("Teacher sign-in").count() == 1
    before = {p.name for p in runs.iterdir()}
    page.locator(".st-key-btn_start").get_by_role("button").click()
    deadline = time.time() + 60
    while not (new := [p for p in runs.iterdir() if p.name not in before and (p / "meta.json").exists()]):
        assert time.time() < deadline, "no run started"
        time.sleep(0.3)
    meta = RunReader(new[0]).meta
    token = {c["name"]: c["value"] for c in ctx.cookies()}[COOKIE]
    assert meta["owner"] == token and meta["client"] == "loopback", meta  # neither header was believed
    page.get_by_text("Classroom link (for teachers)").click()
    page.get_by_text(re.compile(r"A link's locks are a convenience, not a rule")).wait_for()
    assert page.get_by_text(re.compile(r"What binds every student is the teacher's")).count() == 1
    page.locator(".st-key-btn_stop").get_by_role("button").click()
    ctx.close()


def test_spoofed_forwarded_for_from_loopback_one_try_heard_of_8(server):
    """Issue 27 hole 5: loopback's wrong passwords start a wait; 8 fresh cookies, each claiming another address in
    X-Forwarded-For, try at once: at most one is heard (all 8 were, before)."""
    url, runs, browser, _ = server
    spoofers = [student(browser, **{"X-Forwarded-For": f"10.66.0.{i}"}) for i in range(8)]
    for _, page in spoofers:
        open_signin(page, url)
    ctx, guesser = student(browser)
    open_signin(guesser, url)
    for n in range(1, FREE_TRIES + 3):
        guesser.get_by_label("Teacher password").fill("guess")
        guesser.get_by_role("button", name="Sign in").click()
        assert outcome(guesser) == "heard", n
        if not guesser.get_by_label("Teacher password").is_visible():
            guesser.get_by_text("Teacher sign-in").click()
        time.sleep(delay_after(n) + 0.2 if n < FREE_TRIES + 2 else 0)
    for _, page in spoofers:  # all 8 at once, within the address's wait
        page.get_by_label("Teacher password").fill("guess")
        page.get_by_role("button", name="Sign in").click()
    answers = [outcome(page) for _, page in spoofers]
    print(f"8 spoofed addresses during loopback's wait: {answers.count('heard')} heard, "
          f"{answers.count('refused')} refused unheard")
    assert answers.count("heard") <= 1 and answers.count("refused") >= 7, answers
    for c, _ in [*spoofers, (ctx, None)]:
        c.close()


def test_the_uploads_bound_holds_per_address_whatever_the_cookies(server):
    """Issue 27 hole 9: three fresh cookies from one address (each claiming another in X-Forwarded-For, believed by
    no one) upload one run each under a bound of two and a half: the third is refused and removed."""
    url, runs, browser, archive = server
    said = []
    for i in range(3):
        ctx, page = student(browser, **{"X-Forwarded-For": f"10.77.0.{i}"})
        page.goto(f"{url}/runs")
        settle_steady(page)
        region = page.get_by_role("region", name=re.compile(r"^Upload a run archive"))
        region.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(archive))
        page.get_by_text(re.compile(r"^(Uploaded tiny\.zip|Not kept)")).first.wait_for()
        said.append(page.get_by_text(re.compile(r"^(Uploaded tiny\.zip|Not kept)")).first.inner_text())
        no_exception(page, f"upload {i}")
        ctx.close()
    kept = [p for p in (runs / "uploaded").iterdir() if (p / "config.json").exists()]
    assert len(kept) == 2 and {RunReader(p).meta["client"] for p in kept} == {"loopback"}, said
    assert said[2].startswith("Not kept") and "max_uploads_bytes" in said[2], said


def test_sessions_per_address_are_capped_with_a_clear_message(server):
    """Issue 27 hole 13: SESSIONS tabs from one address draw the app; one more is told to close some; closing one
    lets it in."""
    url, runs, browser, _ = server
    ctx = browser.new_context(viewport=VIEWPORT)
    pages = []
    for _ in range(SESSIONS):
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/runs")
        settle_steady(page)
        pages.append(page)
    extra = ctx.new_page()
    extra.set_default_timeout(120_000)
    extra.goto(f"{url}/runs")
    extra.get_by_text("ffviz · too many open tabs").wait_for()
    assert extra.get_by_text(re.compile(r"max_sessions_per_client")).count() == 1
    assert extra.get_by_test_id("stSidebarNav").count() == 0
    pages.pop().close()
    time.sleep(2)
    extra.reload()
    extra.get_by_test_id("stSidebarNav").wait_for()  # the app (its home page: the refusal had no page of its own)
    ctx.close()
