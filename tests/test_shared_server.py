"""One server, many sessions (a classroom): a new tab does not land on a run another session is training, and the
runs folder stays within its stated retention policy when runs start."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

from ffviz.store.retention import DEFAULT_MAX_RUNS, retention_limit
from ffviz.store.runs import update_meta

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # generous: a busy machine (the app's runs train in their own processes beside the test)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A finished classroom-mini run to copy into runs folders."""
    return finished_tiny_run(tmp_path_factory.mktemp("template"))


def old_runs(template: Path, root: Path, n: int) -> list[Path]:
    """n finished runs, oldest first (their `created` a day apart)."""
    made = []
    for i in range(n):
        dest = root / f"2026010{i + 1}-100000-old"  # named as run folders are: the date first
        shutil.copytree(template, dest)
        update_meta(dest, name=dest.name, created=f"2026-01-0{i + 1}T10:00:00")
        made.append(dest)
    return made


def session() -> AppTest:
    return AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT)


def start(at: AppTest, epochs: int) -> str:
    at.switch_page("pages/train.py").run()
    at.selectbox(key="cfg_preset").set_value("classroom-mini")
    at.number_input(key="cfg_epochs").set_value(epochs)
    at.selectbox(key="cfg_device").set_value("cpu")
    at.run()
    assert not at.button(key="btn_start").disabled
    at.button(key="btn_start").click().run()
    assert not at.exception
    return at.session_state["run"]


def test_a_new_tab_does_not_open_a_run_another_session_is_training(runs, template):
    (finished,) = old_runs(template, runs, 1)
    teacher = session().run()
    training = start(teacher, epochs=200)  # long: it is still training while the student arrives
    from pages.common.frame import state

    assert state._manager(str(runs)).info(training).state in ("queued", "starting", "running")
    student = session().run()
    # not the classmate's live run (with its Pause and Stop): the newest run no one is training
    assert student.session_state["run"] == finished.name
    student.switch_page("pages/train.py").run()
    assert not student.button(key="btn_start").disabled and student.button(key="btn_stop").disabled
    # a link to the live run still opens it
    linked = session()
    linked.query_params["run"] = training
    linked.run()
    assert linked.session_state["run"] == training


def test_starting_a_run_applies_the_retention_policy(runs, template, monkeypatch):
    """To the session's own runs only: a classmate's and the teacher's command-line runs stay, however old."""
    monkeypatch.setenv("FFVIZ_MAX_RUNS", "2")
    made = old_runs(template, runs, 5)
    at = session().run()
    for old in made[2:]:
        update_meta(old, owner=at.session_state["_ffviz_token"])
    update_meta(made[1], owner="c" * 32)  # a classmate's; made[0] has no owner: the teacher's
    new = start(at, epochs=1)
    kept = sorted(p.name for p in runs.iterdir() if (p / "config.json").exists())
    assert kept == sorted([made[0].name, made[1].name, made[-1].name, new]), (
        "this session's newest two (its newest old run and the new one), and the others' untouched")
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any("keeps the newest 2 runs" in c.value for c in at.caption)


def test_a_bad_retention_setting_is_said_and_the_default_holds(runs, monkeypatch):
    monkeypatch.setenv("FFVIZ_MAX_RUNS", "lots")
    at = session().run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "FFVIZ_MAX_RUNS='lots'" in warning and str(DEFAULT_MAX_RUNS) in warning


@pytest.mark.parametrize(("raw", "limit", "noted"), [
    (None, DEFAULT_MAX_RUNS, False), ("", DEFAULT_MAX_RUNS, False), ("7", 7, False), (" 12 ", 12, False),
    ("0", DEFAULT_MAX_RUNS, True), ("-3", DEFAULT_MAX_RUNS, True), ("2.5", DEFAULT_MAX_RUNS, True),
])
def test_retention_limit_reads_the_environment(raw, limit, noted):
    env = {} if raw is None else {"FFVIZ_MAX_RUNS": raw}
    got, note = retention_limit(env)
    assert got == limit and (note is not None) == noted



def test_the_runs_page_states_how_many_runs_train_at_once(runs, monkeypatch):
    monkeypatch.setenv("FFVIZ_MAX_RUNNING", "3")
    at = session().run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any("At most 3 train at once" in c.value for c in at.caption)
    monkeypatch.setenv("FFVIZ_MAX_RUNNING", "many")
    at.run()
    warning = " ".join(w.value for w in at.warning)
    assert "FFVIZ_MAX_RUNNING='many'" in warning


@pytest.mark.parametrize(("raw", "noted"), [(None, False), ("4", False), ("0", True), ("two", True)])
def test_max_running_reads_the_environment(raw, noted):
    from ffviz.runner.launcher import default_max_running, max_running_setting

    env = {} if raw is None else {"FFVIZ_MAX_RUNNING": raw}
    got, note = max_running_setting(env)
    assert got == (4 if raw == "4" else default_max_running()) and (note is not None) == noted
