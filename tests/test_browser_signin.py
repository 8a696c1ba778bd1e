"""A class signs in with school accounts, end to end: a local OpenID Connect provider (oidc-provider-mock, on
loopback) started here, the app with the README's [auth] block pointing at it, and Chromium signing in two students
and a teacher. Each student's runs are theirs (owner ``oidc:<issuer>#<subject>``); one student in two browsers is one
person under one bound (max_runs_per_owner); the teacher, named in ``teachers``, manages every run, a run from the
server's token days included; a forged identity header changes nothing; Sign out leads back to the sign-in page.

    pytest -m browser tests/test_browser_signin.py      # needs Debian's chromium and oidc-provider-mock
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import tomllib
from browser_support import BROWSER_MARKS, REPO, VIEWPORT, chromium, free_port, no_exception, serve_app, settle_steady
from run_support import finished_tiny_run

from ffviz.server.limits import Limits
from ffviz.store.runs import RunReader, update_meta

mock = pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed (requirements-dev.txt)")
pytestmark = BROWSER_MARKS
TEACHER = "teacher@school.edu"
OLD_TOKEN = "ab" * 16  # a run from before the server switched to school accounts


def readme_auth_block() -> dict:
    """The [auth] example of the README's "One server for a classroom", as TOML."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```toml\n(# \.streamlit/secrets\.toml: school accounts.*?)```", text, re.S)
    assert block, "the README's [auth] example (```toml # .streamlit/secrets.toml: school accounts ...```)"
    return tomllib.loads(block.group(1))


@pytest.fixture(scope="module")
def oidc(tmp_path_factory):
    """The provider, the app (the README's block, pointed at the provider and this port), and Chromium."""
    with mock.run_server_in_thread(port=free_port()) as provider:
        port = free_port()
        secrets = readme_auth_block()
        assert set(secrets["auth"]) >= {"redirect_uri", "cookie_secret", "client_id", "client_secret",
                                        "server_metadata_url"} and "teachers" in secrets
        auth = {**secrets["auth"], "redirect_uri": f"http://localhost:{port}/oauth2callback",
                "server_metadata_url": f"http://localhost:{provider.server_port}/.well-known/openid-configuration"}
        path = tmp_path_factory.mktemp("secrets") / "secrets.toml"
        path.write_text(f"teachers = [{TEACHER!r}]\n[auth]\n" +
                        "".join(f"{k} = {v!r}\n" for k, v in auth.items()).replace("'", '"'))
        mp = pytest.MonkeyPatch()
        mp.setenv("FFVIZ_MAX_RUNNING", "1")  # one run trains, the others queue: the bounds are what is tested
        try:
            with serve_app(tmp_path_factory, args=("--secrets.files", str(path)), port=port,
                           unset_env=("FFVIZ_TEACHER_PASSWORD", "FFVIZ_TRUSTED_PROXY", "FFVIZ_PROXY_USER_HEADER",
                                      "FFVIZ_TEACHERS")) as (url, runs), chromium() as browser:
                yield url, runs, browser
        finally:
            mp.undo()


def context(browser, **headers):
    ctx = browser.new_context(viewport=VIEWPORT, extra_http_headers=headers or None)
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    return ctx, page


def sign_in(page, url: str, sub: str) -> None:
    """The sign-in page, the provider's form (the subject typed), back to the app signed in."""
    page.goto(url)
    page.get_by_role("button", name="Sign in with your school account").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(re.escape(url)))
    page.get_by_text(re.compile(r"Signed in as")).wait_for()
    settle_steady(page)


def start(page, url: str, runs: Path) -> str | None:
    """Press Start on a long classroom-mini run; the new run's id, or None when refused (the refusal stays on the
    page)."""
    page.goto(f"{url}/train?preset=classroom-mini&epochs=300&device=cpu")
    settle_steady(page)
    before = set(p.name for p in runs.iterdir())
    button = page.locator(".st-key-btn_start").get_by_role("button")
    if button.is_disabled():  # a new tab shows this person's newest run, and Start waits while it trains: clear it
        page.get_by_test_id("stSidebar").get_by_role("button", name="Clear value").click()
        settle_steady(page)
    button.click()
    deadline = time.time() + 30
    while not (new := [p.name for p in runs.iterdir() if p.name not in before and (p / "meta.json").exists()]):
        if page.get_by_text(re.compile(r"^Not started")).count():
            return None
        assert time.time() < deadline, "Start neither started a run nor said why not"
        time.sleep(0.3)
    settle_steady(page)
    return new[0]


def owner(runs: Path, run_id: str) -> str:
    return RunReader(runs / run_id).meta["owner"]


def test_every_visitor_signs_in_first_and_a_forged_header_changes_nothing(oidc):
    url, runs, browser = oidc
    ctx, page = context(browser, **{"X-Forwarded-User": TEACHER, "X-Forwarded-For": "10.1.2.3"})
    page.goto(f"{url}/runs")
    page.get_by_role("button", name="Sign in with your school account").wait_for()
    assert page.get_by_text("Classroom settings (teacher)").count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0  # no page before signing in
    ctx.close()


def test_students_own_their_runs_from_any_browser_and_the_teacher_manages_all(oidc, tmp_path_factory):
    url, runs, browser = oidc
    old = runs / "20250101-000000-old"
    shutil.copytree(finished_tiny_run(tmp_path_factory.mktemp("src")), old)
    update_meta(old, owner=OLD_TOKEN)
    a1_ctx, a1 = context(browser)
    sign_in(a1, url, "alice@school.edu")
    assert a1.get_by_text("Classroom settings (teacher)").count() == 0  # students never see the teacher's panel
    run_a = start(a1, url, runs)
    assert run_a and owner(runs, run_a).startswith("oidc:") and owner(runs, run_a).endswith("#alice@school.edu")

    # Alice in a second browser (another cookie jar): the same person, her run hers, one bound for both browsers
    a2_ctx, a2 = context(browser)
    sign_in(a2, url, "alice@school.edu")
    a2.goto(f"{url}/train")
    settle_steady(a2)
    assert run_a in a2.url  # a new tab opens this person's newest run, whatever the browser (issue 26, point 5)
    run_a2 = start(a2, url, runs)
    assert run_a2 and owner(runs, run_a2) == owner(runs, run_a)
    a2.goto(f"{url}/train?run={run_a}")
    settle_steady(a2)
    assert a2.locator(".st-key-btn_stop").get_by_role("button").is_enabled()  # hers, from the other browser too
    assert start(a1, url, runs) is None  # a third run: max_runs_per_owner (2) counts both browsers together
    assert a1.get_by_text(re.compile(r"max_runs_per_owner")).count() >= 1
    assert Limits().max_runs_per_owner == 2

    # Bob: his own run; Alice's he may watch, not steer
    b_ctx, b = context(browser)
    sign_in(b, url, "bob@school.edu")
    run_b = start(b, url, runs)
    assert run_b and owner(runs, run_b).endswith("#bob@school.edu")
    b.goto(f"{url}/train?run={run_a}")
    settle_steady(b)
    no_exception(b, "Bob watching Alice's run")
    assert not b.locator(".st-key-btn_stop").get_by_role("button").is_enabled()
    assert b.get_by_text("Another person started this run").count() >= 1

    # The teacher: named in the server's settings, no password; steers Alice's run, deletes the token-owned run
    t_ctx, t = context(browser)
    sign_in(t, url, TEACHER)
    assert t.get_by_text(re.compile(r"Signed in as .*\(teacher\)")).count() == 1
    t.get_by_text("Classroom settings (teacher)").click()  # the panel says which mode, and what it means
    t.get_by_text(re.compile(r"Sign-in: school accounts \(OpenID Connect")).wait_for()
    t.goto(f"{url}/train?run={run_a}")
    settle_steady(t)
    assert t.locator(".st-key-btn_stop").get_by_role("button").is_enabled()
    t.goto(f"{url}/runs?run={old.name}")
    settle_steady(t)
    no_exception(t, "the teacher's Runs page")
    t.locator(".st-key-runs_delete").get_by_role("button").click()
    t.locator(".st-key-runs_delete_yes").get_by_role("button").click()
    deadline = time.time() + 30
    while old.exists():
        assert time.time() < deadline, "the teacher could not delete the token-owned run"
        time.sleep(0.5)

    # Sign out: back to the sign-in page; signing in again, Alice finds her runs
    a1.get_by_role("button", name="Sign out").click()
    end = a1.get_by_role("button", name="End session")
    try:
        end.wait_for(timeout=15_000)  # the provider's end-session page
        end.click()
    except Exception:  # noqa: BLE001 - a provider without one: straight back
        pass
    a1.goto(url)
    a1.get_by_role("button", name="Sign in with your school account").wait_for()
    sign_in(a1, url, "alice@school.edu")  # a new sign-in (as after one expired): her runs are still hers
    a1.goto(f"{url}/train?run={run_a}")
    settle_steady(a1)
    assert a1.locator(".st-key-btn_stop").get_by_role("button").is_enabled()
    for c in (a1_ctx, a2_ctx, b_ctx, t_ctx):
        c.close()
