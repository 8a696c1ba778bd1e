"""The app on a GPU, in a real Chromium (skipped without CUDA): Start on the Train page with the classroom defaults
(device "auto" picks CUDA), and the run's device shows as CUDA while its epoch counter and charts move.

    pytest tests/test_browser_gpu.py        # on a machine with CUDA
"""

from __future__ import annotations

import pytest
import torch
from browser_support import BROWSER_MARKS, chromium, new_page, no_exception, screenshot, serve_app, settle, wait_metric

pytestmark = [*BROWSER_MARKS, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serve_app(tmp_path_factory) as served:
        yield served


def test_a_classroom_run_trains_on_cuda_from_the_train_page(app):
    url, runs = app
    with chromium() as browser:
        page = new_page(browser)
        page.goto(f"{url}/train")
        settle(page)
        page.get_by_role("button", name="Start").click()
        first = wait_metric(page, "Epoch", r"\d+ / \d+", timeout=120)
        assert wait_metric(page, "Device", r"CUDA.*", timeout=60).startswith("CUDA")
        epochs = int(first.split(" / ")[1])
        wait_metric(page, "Epoch", rf"[1-9]\d* / {epochs}", timeout=120)  # the counter moves
        page.get_by_test_id("stPlotlyChart").first.locator(".main-svg").first.wait_for(timeout=60_000)
        page.get_by_text("Finished. Test accuracy").wait_for(timeout=300_000)
        settle(page)
        no_exception(page, "Train on CUDA")
        screenshot(page, "train_cuda")
    meta = next(p for p in runs.iterdir() if (p / "meta.json").exists()) / "meta.json"
    assert "cuda" in meta.read_text().lower()
