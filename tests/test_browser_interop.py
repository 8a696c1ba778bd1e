"""The Runs page imports a folder of the authors' training logs, in a real Chromium: the files are uploaded, the run is
listed, and it opens on Assignments with the W of epoch 10 equal to their weights file's, and on the Train page with
its curves; a folder that is not theirs is refused with a message. The page also offers the TensorBoard download.

    pytest -m browser tests/test_browser_interop.py      # needs Debian's chromium at /usr/bin/chromium

The logs are written by the test in their format (tests/authors_logs_support.py); set FFVIZ_AUTHORS_LOGS to a folder
that a real run of their code wrote to import that one instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from authors_logs_support import write_logs
from browser_support import (
    BROWSER_MARKS,
    chromium,
    new_page,
    no_exception,
    screenshot,
    serve_app,
    settle_steady,
)

from ffviz.interop.authors_weights import read_weights

pytestmark = BROWSER_MARKS

# The heatmap's W as drawn: rows in display order (customdata holds each row's channel), back in channel order.
HEATMAP_W = """() => {
  const gd = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
      .find(g => g._fullData && g._fullData[0] && g._fullData[0].type === 'heatmap');
  if (!gd) return null;
  const t = gd._fullData[0];
  const z = Array.from(t.z, r => Array.from(r));
  const ch = Array.from(t.customdata, r => Array.from(r)[0]);
  const w = new Array(z.length);
  ch.forEach((c, i) => { w[c] = z[i]; });
  return {w: w, title: gd.layout.title && gd.layout.title.text};
}"""


def logs_folder(tmp_path: Path) -> Path:
    real = os.environ.get("FFVIZ_AUTHORS_LOGS")
    if real:
        return Path(real)
    folder = tmp_path / "logs"
    write_logs(folder, epochs=12)
    return folder


def test_runs_page_imports_the_authors_logs(tmp_path_factory, tmp_path):
    folder = logs_folder(tmp_path)
    files = sorted(str(p) for p in folder.iterdir() if p.is_file())
    theirs, _, _ = read_weights(folder / "all_epochs_layer_weights.txt")
    layer = 5
    with serve_app(tmp_path_factory) as (url, runs), chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/runs")
        settle_steady(page)
        form = page.locator(".st-key-logs_files")
        # not theirs: one CSV without the rest
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "accuracy.csv").write_text("1,2,3,4\n")
        form.locator("input[type=file]").set_input_files(str(tmp_path / "other" / "accuracy.csv"))
        form.get_by_text("accuracy.csv").wait_for()
        settle_steady(page)
        page.get_by_role("button", name="Open as a run").click()
        page.get_by_text("The logs were not imported").wait_for()
        assert page.get_by_text("not a folder of the authors'").count() >= 1
        page.goto(f"{url}/runs")  # a fresh session: its uploader starts empty (a multiple one adds to its list)
        settle_steady(page)
        form = page.locator(".st-key-logs_files")
        form.locator("input[type=file]").set_input_files(files)
        page.wait_for_timeout(3000)
        settle_steady(page)
        screenshot(page, "interop_runs_uploaded")
        page.get_by_role("button", name="Open as a run").click()
        page.get_by_text("Imported the authors' logs").wait_for()
        settle_steady(page)
        no_exception(page, "Runs after the import")
        [run_dir] = [d for d in (runs / "uploaded").iterdir() if d.is_dir()]
        page.get_by_text("where its settings come from").click()
        settle_steady(page)
        assert page.get_by_text("unknown: not in the logs").count() >= 1
        assert page.get_by_role("button", name="TensorBoard (.zip)").count() == 1
        screenshot(page, "interop_runs_imported_logs")
        page.locator(".st-key-runs_open").get_by_role("button").click()
        settle_steady(page)
        no_exception(page, "Assignments of the imported logs")
        assert page.get_by_role("heading", name="Assignments").count() == 1
        assert page.get_by_text(run_dir.name).count() >= 1
        page.locator(".st-key-asg_layer").click()
        page.get_by_role("option", name=f"Layer {layer}", exact=False).first.click()
        settle_steady(page)
        drawn = page.evaluate(HEATMAP_W)
        assert drawn is not None and "epoch 10" in (drawn["title"] or ""), drawn and drawn["title"]
        np.testing.assert_allclose(np.asarray(drawn["w"], dtype=float), theirs[10][layer], atol=1e-6)
        screenshot(page, "interop_assignments_epoch10")
        page.goto(f"{url}/train?run={run_dir.name}")
        settle_steady(page)
        no_exception(page, "Train page of the imported logs")
        charts = page.get_by_test_id("stPlotlyChart")
        assert charts.count() >= 2
        for i in range(2):  # the loss and the accuracy curves are drawn
            assert charts.nth(i).locator(".main-svg .scatterlayer .trace").count() >= 1, i
        screenshot(page, "interop_train_imported_logs")
