"""A class experiment in a real Chromium, three browser contexts on one server: the teacher makes a class link on the
Sweep page (2 cells of a tiny preset, one seed); two students open it, each gets a different cell and trains it; both
students' pages (and the teacher's) show both results in the grid.

    pytest -m browser tests/test_browser_sweep.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import json
import re
import time

import pytest
from browser_support import BROWSER_MARKS, VIEWPORT, chromium, no_exception, screenshot, serve_app, settle_steady

pytestmark = BROWSER_MARKS
# The heatmaps' numbers, read from the first chart on the page (the accuracy grid): its z and its cell texts.
GRID = """() => { const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  return gd && gd.data ? {z: gd.data[0].z, text: gd.data[0].text} : null; }"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory) as served:
        yield served


def _key(page, key: str):
    return page.locator(f".st-key-{key}:not([data-stale='true'])")


def _pick(page, key: str, option: str) -> None:
    _key(page, key).get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(option))).first.click()


def _fill(page, key: str, value: str) -> None:
    box = _key(page, key).locator("input")
    box.fill(value)
    box.press("Tab")


def _tab(browser):
    """A browser context of its own (its own cookies and session), with one page at projector size."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


def _filled(page) -> int:
    """How many cells of the accuracy grid hold a number."""
    grid = page.evaluate(GRID)
    if not grid:
        return 0
    return sum(v is not None for row in grid["z"] for v in row)


def _wait_filled(page, n: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if _filled(page) >= n:
                return
        except Exception:  # the fragment is redrawing the chart
            pass
        time.sleep(1)
    raise AssertionError(f"the grid never showed {n} results; it shows {_filled(page)}")


def test_class_experiment_teacher_and_two_students(app):
    url, runs = app
    with chromium() as browser:
        teacher_ctx, teacher = _tab(browser)
        teacher.goto(f"{url}/sweep")
        settle_steady(teacher)
        no_exception(teacher, "Sweep (teacher)")
        _pick(teacher, "sweep_preset", "classroom-mini")
        _fill(teacher, "sweep_epochs", "1")
        _fill(teacher, "sweep_v1", "0, 0.1")
        _pick(teacher, "sweep_f2", "(none)")
        _fill(teacher, "sweep_seeds", "1")
        teacher.get_by_role("button", name=re.compile("Make a class link")).click()
        settle_steady(teacher)
        no_exception(teacher, "Sweep after making the link")
        link = teacher.get_by_test_id("stCode").filter(has_text="join=1").first.inner_text().strip()
        assert re.fullmatch(r"http://\S+/sweep\?sweep=\S+&join=1", link), link

        students, cells = [], []
        for name in ("student A", "student B"):
            ctx, page = _tab(browser)
            page.goto(link)
            settle_steady(page)
            no_exception(page, name)
            cells.append(page.get_by_text(re.compile(r"^Your cell:")).inner_text())
            page.get_by_role("button", name="Train my cell").click()
            settle_steady(page)
            no_exception(page, f"{name} after Train")
            students.append((ctx, page))
        assert cells[0] != cells[1], cells  # two students, two different cells
        assert {re.search(r"lambda_entropy=(\S+),", c).group(1) for c in cells} == {"0", "0.1"}

        for _, page in students:
            _wait_filled(page, 2)  # both results, in each student's grid
            assert page.get_by_text(re.compile(r"2 of 2 runs finished")).count() == 1
        _wait_filled(teacher, 2)
        grid = teacher.evaluate(GRID)
        assert all("1/1 seeds" in t for row in grid["text"] for t in row)
        screenshot(students[0][1], "sweep_class_experiment")

        # the teacher clicks the second cell: its run opens on every view page
        [sweep_dir] = (runs / "sweeps").iterdir()
        run_id = json.loads((sweep_dir / "slots" / "c001-s1.json").read_text())["run_id"]
        teacher.reload()
        settle_steady(teacher)
        chart = teacher.get_by_test_id("stPlotlyChart").first.locator(".js-plotly-plot")
        box = chart.bounding_box()
        x, y = chart.evaluate("""gd => { const L = gd._fullLayout, m = gd._fullData[1];
            return [L._size.l + L.xaxis.l2p(L.xaxis.d2c(m.x[1])), L._size.t + L.yaxis.l2p(L.yaxis.d2c(m.y[1]))]; }""")
        teacher.mouse.click(box["x"] + x, box["y"] + y)
        teacher.get_by_text(re.compile(r"Opened lambda_entropy=0.1, seed 1")).wait_for()
        settle_steady(teacher)
        teacher.get_by_test_id("stSidebarNav").get_by_role("link", name="Assignments").click()
        settle_steady(teacher)
        no_exception(teacher, "Assignments after a click on the grid")
        assert teacher.get_by_text(run_id).count() >= 1
        for ctx, _ in students:
            ctx.close()
        teacher_ctx.close()
