"""A new user's first look, in a real Chromium: a fresh server with an empty runs folder (the shipped runs only), and
each view page opened first, in a tab of its own, straight from its URL. Every one draws a chart without a click and
says which run it shows.

    pytest -m browser tests/test_browser_first_visit.py
"""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS, chromium, new_page, no_exception, screenshot, serve_app, settle_steady

from pages.common.frame.keys import VIEW_PAGES

pytestmark = BROWSER_MARKS



@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory, unset_env=("FFVIZ_SHIPPED_DIR",)) as served:  # the real shipped runs
        yield served


@pytest.mark.parametrize("view", VIEW_PAGES)
def test_a_view_page_opened_first_shows_a_chart(app, view):
    base, runs = app
    assert not any(runs.iterdir()), "the runs folder should start empty"
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{base}/{view}")
        page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible", timeout=90_000)
        settle_steady(page)
        no_exception(page, view)
        assert page.get_by_text("the newest finished run on this server").count() == 1
        assert page.get_by_text("No run to show yet").count() == 0
        assert page.locator(".js-plotly-plot").count() >= 1
        screenshot(page, f"first_visit_{view}")
