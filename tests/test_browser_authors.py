"""The Runs page imports a state_dict from the authors' CAW-Conv scripts, in a real Chromium: the file is uploaded,
evaluated on digits, listed, and opens on the Assignments page; a file that is not theirs is refused with a message.

    pytest -m browser tests/test_browser_authors.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import torch
from browser_support import BROWSER_MARKS, chromium, new_page, no_exception, serve_app, settle_steady
from test_authors import authors_state_dict

pytestmark = BROWSER_MARKS


def test_runs_page_imports_the_authors_checkpoint(tmp_path_factory, tmp_path):
    good, bad = tmp_path / "caw_digits.pth", tmp_path / "notes.pt"
    torch.save({"epoch": 2, "model_state_dict": authors_state_dict()}, good)
    torch.save({"weights": [1, 2, 3]}, bad)
    with serve_app(tmp_path_factory) as (url, runs), chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/runs")
        settle_steady(page)
        form = page.locator(".st-key-authors_file")
        form.locator("input[type=file]").set_input_files(str(bad))
        form.get_by_text("notes.pt").wait_for()  # uploaded
        settle_steady(page)
        page.get_by_role("button", name="Import").click()
        page.get_by_text("notes.pt was not imported").wait_for()
        settle_steady(page)
        form.locator("input[type=file]").set_input_files(str(good))
        form.get_by_text("caw_digits.pth").wait_for()
        settle_steady(page)
        page.get_by_role("button", name="Import").click()
        settle_steady(page)
        no_exception(page, "Runs after the import")
        page.get_by_text("Imported caw_digits.pth").wait_for()  # the import evaluates the network: seconds
        settle_steady(page)
        [run_dir] = (runs / "uploaded").iterdir()
        page.locator(".st-key-runs_open").get_by_role("button").click()
        settle_steady(page)
        no_exception(page, "Assignments of the imported run")
        assert page.get_by_role("heading", name="Assignments").count() == 1
        assert page.get_by_text(run_dir.name).count() >= 1
        assert page.get_by_text("the one epoch this run recorded").count() == 1
