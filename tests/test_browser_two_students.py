"""Two students on one real classroom server, each in a browser context of their own and from an address of their own
(every browser here connects from 127.0.0.1, so the server runs as behind a reverse proxy, FFVIZ_TRUSTED_PROXY=1,
and each context sends its address in X-Forwarded-For, 10.0.0.2 for B and 10.0.0.3 for A):
B's failed upload leaves A's upload in place, B's hundred runs push out none of A's, B's fresh cookies take at most
one address's share of a class experiment, and wrong teacher passwords from B's address wait longer each time while
the right one still signs in.

    pytest -m browser tests/test_browser_two_students.py     # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS, VIEWPORT, chromium, no_exception, serve_app, settle_steady
from hostile import meta_status_not_text
from run_support import finished_tiny_run

from ffviz.config import RunConfig
from ffviz.runner.sweep_spec import Axis, SweepSpec
from ffviz.runner.sweep_store import Sweep
from ffviz.server.access import COOKIE
from ffviz.server.limits import Limits
from ffviz.server.signin import ADDRESS_CAP_S, FREE_TRIES, delay_after
from ffviz.store.archive import export_archive
from ffviz.store.runs import RunReader, update_meta

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FFVIZ_TEACHER_PASSWORD", PASSWORD)  # students are students
    mp.setenv("FFVIZ_TRUSTED_PROXY", "1")
    try:
        with serve_app(tmp_path_factory) as (url, runs), chromium() as browser:
            port = url.rsplit(":", 1)[1]
            yield port, runs, browser
    finally:
        mp.undo()


def student(browser, port: str, address: str):
    """A browser context of its own (its own cookie) from one address; returns (context, page, base URL)."""
    ctx = browser.new_context(viewport=VIEWPORT, extra_http_headers={"X-Forwarded-For": address})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    return ctx, page, f"http://localhost:{port}"


def token_of(ctx) -> str:
    return {c["name"]: c["value"] for c in ctx.cookies()}[COOKIE]


def upload(page, path: Path) -> None:
    region = page.get_by_role("region", name=re.compile(r"^Upload a run archive"))
    region.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))


def listed(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if (p / "config.json").exists()] if root.is_dir() else []


def test_bs_failed_upload_leaves_as_upload_in_place(server, tmp_path_factory):
    port, runs, browser = server
    src = finished_tiny_run(tmp_path_factory.mktemp("src"))
    files = tmp_path_factory.mktemp("files")
    (files / "a-run.zip").write_bytes(export_archive(src))
    (files / "b-bad.zip").write_bytes(meta_status_not_text(src))
    a_ctx, a, a_url = student(browser, port, "10.0.0.3")
    b_ctx, b, b_url = student(browser, port, "10.0.0.2")
    for page, url in ((a, a_url), (b, b_url)):
        page.goto(f"{url}/runs")
        settle_steady(page)
    upload(a, files / "a-run.zip")  # both at once: B's is refused while A's is being checked or just kept
    upload(b, files / "b-bad.zip")
    b.get_by_test_id("stAlertContentError").filter(has_text="b-bad.zip").wait_for()
    a.get_by_test_id("stAlertContentSuccess").filter(has_text="a-run.zip").wait_for()
    ups = listed(runs / "uploaded")
    assert len(ups) == 1 and RunReader(ups[0]).meta["owner"] == token_of(a_ctx)
    assert not [p for p in (runs / "uploaded").iterdir() if p.name.startswith(".staging-")]
    a_ctx.close()
    b_ctx.close()


def test_bs_hundred_runs_push_out_none_of_as(server, tmp_path_factory):
    port, runs, browser = server
    src = finished_tiny_run(tmp_path_factory.mktemp("src"))
    a_ctx, a, a_url = student(browser, port, "10.0.0.3")
    b_ctx, b, b_url = student(browser, port, "10.0.0.2")
    for page, url in ((a, a_url), (b, b_url)):
        page.goto(f"{url}/runs")
        settle_steady(page)
    a_token, b_token = token_of(a_ctx), token_of(b_ctx)
    a_runs = []
    for i in range(3):  # A's runs: the oldest of the folder
        dest = runs / f"20260101-10000{i}-a"
        shutil.copytree(src, dest)
        update_meta(dest, owner=a_token, created=f"2026-01-01T10:00:0{i}")
        a_runs.append(dest)
    for i in range(100):  # B's hundred, made directly (retention is what is tested, not training)
        dest = runs / f"20260102-{i:06d}-b"
        shutil.copytree(src, dest)
        update_meta(dest, owner=b_token, created=f"2026-01-02T{i // 60:02d}:{i % 60:02d}:00")
    b.goto(f"{b_url}/train?preset=classroom-mini&epochs=1&device=cpu")
    settle_steady(b)
    b.get_by_test_id("stButton").filter(has=b.get_by_role("button", name=re.compile("Start"))).first.click()
    b.wait_for_url(re.compile(r"run="))
    deadline = time.time() + 60
    # Retention has run once B's oldest run is gone (the count alone can read 100 before B's new run is listed)
    while (runs / "20260102-000000-b").exists() or len(
            [p for p in listed(runs) if RunReader(p).meta.get("owner") == b_token]) > 100:
        assert time.time() < deadline, "retention did not run"
        time.sleep(0.5)
    assert all(p.exists() for p in a_runs), "B's runs pushed out one of A's"
    assert len([p for p in listed(runs) if RunReader(p).meta.get("owner") == b_token]) == 100
    a.goto(f"{a_url}/runs")
    settle_steady(a)
    no_exception(a, "A's Runs page")
    a_ctx.close()
    b_ctx.close()


def test_bs_fresh_cookies_take_at_most_one_addresss_share_of_a_class_experiment(server):
    port, runs, browser = server
    spec = SweepSpec(name="class", base=RunConfig(preset="classroom-mini", epochs=1),
                     axes=(Axis("lambda_entropy", (0.0, 0.1, 0.2)), Axis("lambda_orth", (0.0, 0.5, 1.0))), seeds=(1, 2))
    sweep = Sweep.create(runs, spec, kind="class")
    share = Limits().max_cells_per_client
    said = []
    for i in range(share + 2):  # a fresh cookie each time, all from B's address
        ctx, page, url = student(browser, port, "10.0.0.2")
        page.goto(f"{url}/sweep?sweep={sweep.id}&join=1")
        settle_steady(page)
        no_exception(page, f"B's cookie {i}")
        said.append(page.get_by_text(re.compile(r"^Your cell:|already holds")).first.inner_text())
        ctx.close()
    held = [s for s in Sweep.open(sweep.dir).slots() if s.claimed_by]
    assert len(held) == share and {s.client for s in held} == {"10.0.0.2"}, held
    assert all("already holds" in t for t in said[share:]), said
    ctx, page, url = student(browser, port, "10.0.0.3")  # A still gets a cell
    page.goto(f"{url}/sweep?sweep={sweep.id}&join=1")
    settle_steady(page)
    assert page.get_by_text(re.compile(r"^Your cell:")).count() == 1
    ctx.close()


def test_wrong_teacher_passwords_wait_longer_and_the_right_one_still_signs_in(server):
    """The real server's delay, from one address with two cookies: guessing as fast as the pages answer for 12 s,
    only the tries the schedule allows are checked (FREE_TRIES at once, then after 1, 2, 4, 5 s, counted for the
    address whichever cookie guessed), the rest are refused unheard; then the right password signs in."""
    port, runs, browser = server
    pages = []
    for _ in range(2):
        ctx, page, url = student(browser, port, "10.0.0.5")
        page.goto(f"{url}/runs")
        settle_steady(page)
        page.get_by_text("Teacher sign-in").click()
        pages.append((ctx, page))

    def attempt(page, password: str) -> str:
        if not page.get_by_label("Teacher password").is_visible():  # the sidebar's box may close on a rerun
            page.get_by_text("Teacher sign-in").click()
        page.get_by_label("Teacher password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        settle_steady(page)
        if page.get_by_text("That is not the teacher password.").count():
            return "heard"
        if page.get_by_text(re.compile(r"Too many wrong passwords")).count():
            return "refused"
        return "signed in" if page.get_by_text("Classroom settings (teacher)").count() else "?"

    t0 = time.monotonic()
    heard, refused, last_heard, i = 0, 0, t0, 0
    while time.monotonic() - t0 < 12:
        answer = attempt(pages[i % 2][1], "guess")
        i += 1
        assert answer in ("heard", "refused"), answer
        if answer == "heard":
            heard, last_heard = heard + 1, time.monotonic()
        else:
            refused += 1
    # the schedule allows FREE_TRIES, then one after each of 1, 2, 4, 5 s (an address waits at most ADDRESS_CAP_S, so
    # a classmate cannot lock the teacher out): at most FREE_TRIES + 4 in 12 s
    print(f"in 12 s from one address: {heard} wrong passwords checked, {refused} refused unheard ({i} tries)")
    assert ADDRESS_CAP_S == 5 and FREE_TRIES <= heard <= FREE_TRIES + 4 and refused >= 1
    time.sleep(max(0.0, delay_after(heard) - (time.monotonic() - last_heard)) + 0.5)
    assert attempt(pages[0][1], PASSWORD) == "signed in"
    for ctx, _ in pages:
        ctx.close()
