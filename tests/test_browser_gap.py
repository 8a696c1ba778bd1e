"""End to end in a real Chromium: the Gap page on the shipped runs, as a fresh clone starts it. First the digits and
the digit pairs (25 and 100 classes) side by side: static and the learnable assignment by start, 3 seeds a bar, and
the sentence built from the runs saying where learnable wins, loses and why. Then the lineage's
four modes (original FF, static partition, learnable assignment, backprop), three seeds each read as one bar with a
whisker of one standard deviation and a dot per seed, the published figures beside them labelled as published with
their network and epochs, and the sentence saying what these runs show. Saves tests/screenshots/gap.png.

    pytest -m browser tests/test_browser_gap.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS, REPO, chromium, new_page, no_exception, screenshot, serve_app, settle_steady

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(not any((REPO / "assets" / "runs").glob("*/config.json")),
                       reason="the shipped runs are not in assets/runs (bash assets/runs/make_shipped_runs.sh)"),
]

MODES = ("original FF (Hinton)", "static partition", "learnable (CAW-Conv)", "backprop")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory, unset_env=("FFVIZ_SHIPPED_DIR",)) as served:  # the real shipped runs
        yield served


def test_the_gap_page_shows_the_lineage_over_seeds_beside_the_published_figures(app):
    url, _ = app
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/gap")
        # the page reads every shipped run (about 50) before its first chart: wait for all seven, then settle
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length >= 7",
                               timeout=180_000)
        settle_steady(page)
        no_exception(page, "Gap")
        charts = page.get_by_test_id("stPlotlyChart")
        assert charts.count() == 7
        cells = charts.nth(0)
        titles = cells.locator(".annotation-text").all_text_contents()
        assert [t.split(" (")[0] for t in titles] == ["digits, 10 classes", "digit pairs, 25 classes",
                                                      "digit pairs, 100 classes"], titles
        bars = cells.locator(".xtick text, .x2tick text, .x3tick text").all_text_contents()  # one axis a panel
        assert len(bars) >= 8 and all(b.endswith("3 seeds") for b in bars), bars
        assert sum(b.startswith("static") for b in bars) == 3 and sum("paper's start" in b for b in bars) == 3, bars
        assert cells.locator(".scatterlayer .point").count() == 3 * len(bars)  # a dot per seed
        pays = page.locator("[data-testid='stMarkdown']").filter(has_text="Where it pays.").inner_text()
        assert all(w in pays for w in ("digits, 10 classes", "digit pairs, 25 classes", "digit pairs, 100 classes",
                                       "static", "paper's start", "W starts uniform")), pays
        assert "beyond the seeds' spread" in pays, pays
        cells.scroll_into_view_if_needed()
        screenshot(page, "gap_cells")
        measured = charts.nth(1)
        assert "Measured here" in measured.locator(".gtitle").text_content()
        bars = measured.locator(".xtick text").all_text_contents()
        # two lines: the mode, then its seeds and their mean ± sd
        assert [b.split(" · ")[0] for b in bars] == [f"{m}3 seeds" for m in MODES], bars
        assert all(" ± " in b for b in bars), bars
        assert measured.locator(".scatterlayer .point").count() == 12  # a dot per seed
        assert measured.locator(".errorbar").count() >= 4  # a whisker per mode
        published = charts.nth(2)
        assert "Published, CIFAR-10" in published.locator(".gtitle").text_content()
        labels = published.locator(".bartext").all_text_contents()
        assert labels == ["published 59.00%", "published 78.11%", "published 86.22%", "published 89.37%"], labels
        methods = published.locator(".ytick text").all_text_contents()
        assert "CAW-Conv (2026)ResNet-17150 epochs" in methods, methods  # its network and epochs beside it
        sentence = page.get_by_text("What these runs show.")
        assert sentence.count() == 1
        text = page.locator("[data-testid='stMarkdown']").filter(has_text="What these runs show.").inner_text()
        assert "3 seeds" in text and all(m.split(" (")[0] in text for m in MODES), text
        page.locator("h1").click()
        screenshot(page, "gap")
        page.close()
