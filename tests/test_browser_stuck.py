"""End to end in a real Chromium: a learnable run that stays at the paper's uniform start (digit pairs, 25 classes,
16 steps) is flagged on the Train and Assignments pages with a plain sentence on what happens and what to try, and
the Assignments page shows each layer's W entropy beside its temperature. Saves tests/screenshots/stuck_*.png.

    pytest -m browser tests/test_browser_stuck.py      # needs Debian's chromium at /usr/bin/chromium
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from browser_support import BROWSER_MARKS, REPO, chromium, new_page, no_exception, screenshot, serve_app, settle_steady

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def stuck_run(tmp_path_factory):
    with serve_app(tmp_path_factory) as (url, runs):
        proc = subprocess.run([sys.executable, "-m", "ffviz", "train", "--dataset", "digit-pairs-25", "--widths",
                               "25,50", "--image-size", "8", "--epochs", "1", "--batch-size", "256", "--probe-size",
                               "8", "--threads", "1", "--no-progress", "--runs-dir", str(runs), "--name", "stuck"],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        run = json.loads(proc.stdout.strip().splitlines()[-1])["run"].split("/")[-1]
        yield url, run


def test_the_stuck_start_is_flagged_on_train_and_assignments(stuck_run):
    url, run = stuck_run
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/train?run={run}")
        settle_steady(page)
        no_exception(page, "Train")
        flag = page.get_by_test_id("stAlert").filter(has_text="Stuck start.")
        assert flag.count() == 1
        text = flag.inner_text()
        assert "still uniform after 1 epoch" in text and "random A" in text and "Try" in text, text
        screenshot(page, "stuck_train")
        page.goto(f"{url}/assignments?run={run}")
        settle_steady(page)
        no_exception(page, "Assignments")
        assert page.get_by_test_id("stAlert").filter(has_text="Stuck start.").count() == 1
        assert page.get_by_text("Each layer's W entropy and temperature, epoch 1").count() == 1
        assert page.get_by_test_id("stDataFrame").count() == 1  # a row of W entropies, a row of temperatures
        page.get_by_text("Each layer's W entropy and temperature").scroll_into_view_if_needed()
        screenshot(page, "stuck_assignments")
        page.close()
