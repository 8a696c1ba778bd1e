"""The app under Streamlit's AppTest: every page renders without an exception, with no run and with a finished one;
a tiny run started from the Train page trains in the server's manager and its records reach the page; a live λ
change is recorded; the current run survives page switches and comes back from the URL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

from ffviz.config import RunConfig
from ffviz.store.runs import RunReader
from pages.common.frame.keys import BY_NAME, VIEW_PAGES

REPO = Path(__file__).resolve().parents[1]
PAGES = ["pages/home.py", "pages/train.py", *(BY_NAME[name].script for name in VIEW_PAGES)]  # [2:]: the views
TIMEOUT = 180  # the first script run imports torch and scikit-learn: slow on a busy machine


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished classroom-mini run (2 epochs) in its own runs folder."""
    return finished_tiny_run(tmp_path_factory.mktemp("finished"), epochs=2, batch_size=64, probe_size=20)


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT)


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(page).run()
    assert not at.exception, f"{page}: {[e.value for e in at.exception]}"
    return at


def wait_for(predicate, timeout: float = 240, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_every_page_without_any_run(runs):
    at = app().run()
    assert not at.exception
    for page in PAGES:
        visit(at, page)
    assert at.session_state["run"] == ""


def test_a_view_page_without_a_run_of_its_own_shows_the_newest_finished_run(runs):
    """An empty runs folder: each view page, opened first, shows the newest shipped run (and says so); a run of the
    session's own replaces it."""
    for page in PAGES[2:]:
        at = app()
        at.switch_page(page).run()
        assert not at.exception, page
        assert len(at.get("plotly_chart")) >= 1, page
        caption = " ".join(c.value for c in at.caption)
        assert "the newest finished run on this server" in caption, page
        assert at.session_state["run"] == ""  # shown, not made the session's own
    own = finished_tiny_run(runs, epochs=1, batch_size=256, probe_size=10)
    at = app()
    at.switch_page("pages/assignments.py").run()
    assert at.session_state["run"] == own.name
    assert "the newest finished run on this server" not in " ".join(c.value for c in at.caption)


def test_every_page_on_a_finished_run(finished_run, monkeypatch):
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(finished_run.parent))
    at = app().run()
    assert at.session_state["run"] == finished_run.name  # no run chosen: the most recent one
    expected = {"pages/train.py": 2, "pages/assignments.py": 2, "pages/regularizers.py": 2,
                "pages/goodness.py": 3, "pages/contributions.py": 4}
    for page, charts in expected.items():
        visit(at, page)
        assert len(at.get("plotly_chart")) == charts, page
        if page == "pages/train.py":  # a finished run: where to look next, three links with a sentence each
            assert any("What to look at next" in m.value for m in at.markdown)
            links = [str(el.proto.page) for el in at.get("page_link")]
            assert links == ["assignments", "regularizers", "gap"], links
    # scrub, pick a layer and a channel: the views follow
    visit(at, "pages/assignments.py")
    at.select_slider(key="asg_epoch").set_value(1).run()
    at.selectbox(key="asg_layer").set_value(2).run()
    at.selectbox(key="asg_channel").set_value(3).run()  # as a click on the heatmap's row does
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3
    assert "Channel 3, layer 2" in str(at.get("plotly_chart")[-1].proto.spec)
    # Play: from the last epoch it starts over at epoch 0, then steps one epoch per tick
    at.select_slider(key="asg_epoch").set_value(2).run()
    at.toggle(key="asg_epoch_play").set_value(True).run()
    assert at.select_slider(key="asg_epoch").value == 0 and not at.exception
    at.run()
    assert at.select_slider(key="asg_epoch").value == 1
    at.toggle(key="asg_epoch_play").set_value(False).run()
    visit(at, "pages/regularizers.py")
    at.toggle(key="reg_log").set_value(False).run()
    visit(at, "pages/goodness.py")
    at.number_input(key="good_image").set_value(5).run()
    assert at.image, "the probe image is shown"
    assert not at.exception


def test_every_page_on_an_original_ff_run(tmp_path, monkeypatch):
    """Hinton's original FF: the curves, goodness and contributions draw it; the assignment pages say it has no W."""
    run = finished_tiny_run(tmp_path / "ff", mode="original-ff", epochs=2, batch_size=64, probe_size=20)
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(run.parent))
    at = app().run()
    assert at.session_state["run"] == run.name
    for page in ("pages/train.py", "pages/goodness.py", "pages/contributions.py"):
        visit(at, page)
        assert len(at.get("plotly_chart")) >= 2, page
    for page in ("pages/assignments.py", "pages/regularizers.py"):
        visit(at, page)
        assert not at.get("plotly_chart") and "has no assignment W" in at.info[0].value, page
    visit(at, "pages/train.py")  # the mode is one of the Train page's choices, its estimates follow
    at.selectbox(key="cfg_mode").set_value("original-ff").run()
    assert not at.exception and at.selectbox(key="cfg_mode").value == "original-ff"


def test_start_a_tiny_run_from_the_train_page_and_see_its_records(runs):
    at = visit(app().run(), "pages/train.py")
    at.selectbox(key="cfg_preset").set_value("classroom-mini")
    at.number_input(key="cfg_epochs").set_value(2)
    at.number_input(key="cfg_batch_size").set_value(64)
    at.selectbox(key="cfg_device").set_value("cpu")
    at.run()
    at.button(key="btn_start").click().run()
    assert not at.exception
    run_id = at.session_state["run"]
    assert run_id and (runs / run_id / "config.json").exists()
    assert RunConfig.from_dict(RunReader(runs / run_id).config.to_dict()).epochs == 2
    # "One epoch": the run trains its first epoch and pauses; meanwhile the page shows what has arrived
    at.button(key="btn_step").click().run()
    reader = wait_for(lambda: (r := RunReader(runs / run_id)) and len(r.epochs) >= 2 and r.meta.get("status") ==
                      "paused" and r)
    at.run()
    assert metric(at, "Epoch") == "1 / 2" and not at.exception
    # a live change while the run is paused mid-training; it applies at the next batch, after Resume
    at.select_slider(key="cfg_lambda_entropy").set_value(0.03).run()
    at.button(key="btn_resume").click().run()
    reader = wait_for(lambda: (r := RunReader(runs / run_id)) and r.meta.get("status") == "finished" and r)
    assert [e.epoch for e in reader.epochs] == [0, 1, 2] and reader.test is not None
    changes = [e.changes for e in reader.events if e.action == "set"]
    assert changes == [{"lambda_entropy": [0.01, 0.03]}]
    at.run()
    assert metric(at, "Epoch") == "2 / 2"
    assert any("Finished. Test accuracy" in s.value for s in at.success)
    assert any("Change recorded" in m.value for m in at.markdown)
    # switching pages and coming back keeps the run; so does a new session on the same URL
    for page in PAGES[2:]:
        visit(at, page)
    visit(at, "pages/train.py")
    assert at.session_state["run"] == run_id and metric(at, "Epoch") == "2 / 2"
    other = app()
    other.query_params["run"] = run_id
    other.run()
    assert other.session_state["run"] == run_id


def test_retrain_overlays_the_previous_run_and_reset_clears(finished_run, monkeypatch):
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(finished_run.parent))
    from pages.common.frame import state

    at = visit(app().run(), "pages/train.py")
    at.number_input(key="cfg_epochs").set_value(1).run()
    at.button(key="btn_retrain").click().run()
    assert not at.exception
    new = at.session_state["run"]
    assert new != finished_run.name and at.session_state["compare_run"] == finished_run.name
    try:
        assert all("previous run" in str(chart.proto.spec) for chart in at.get("plotly_chart"))
        at.button(key="btn_reset").click().run()
        assert at.session_state["run"] == "" and not at.exception
        assert wait_for(lambda: state._manager(str(finished_run.parent)).info(new).state in
                        ("stopped", "finished"), timeout=60)
    finally:
        state._manager(str(finished_run.parent)).shutdown()


def test_a_missing_dataset_is_marked_before_start_with_what_to_fetch(runs, tmp_path, monkeypatch):
    # Where data lives is the server's setting (no text box: a student must not point the server at a folder), and
    # the app downloads nothing unless the server allows it. A dataset not on disk is marked before Start (issue 26:
    # it used to fail seconds after Start), with what to fetch and where, and Start waits for it.
    monkeypatch.setenv("FFVIZ_DATA_DIR", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("FFVIZ_DOWNLOADS", "0")
    at = visit(app().run(), "pages/train.py")
    assert not any(w.key == "cfg_data_root" for w in at.text_input)
    assert not at.button(key="btn_start").disabled  # the digits ship with ffviz
    at.selectbox(key="cfg_dataset").set_value("cifar10")
    at.run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "not on this server's disk" in warning and "no-data-here" in warning and "cifar-10" in warning
    assert at.button(key="btn_start").disabled
    monkeypatch.setenv("FFVIZ_DOWNLOADS", "1")  # a server that downloads: the run fetches it, the page says so
    at.run()
    assert not at.button(key="btn_start").disabled
    assert any("downloads it first" in c.value for c in at.caption)
