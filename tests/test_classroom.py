"""A classroom server under Streamlit's AppTest, with a teacher password set: a student's run is theirs (another
session sees its controls disabled with the reason, and a request for them anyway is refused); the teacher, once
signed in, steers any run; the teacher's classroom settings bind every student whatever link they open; a link or the
Train page asking beyond the server's limits is refused, naming the limit, and no run starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ffviz.server.access import ClassroomSettings, Identity, can_steer, new_token, why_not
from ffviz.store.runs import RunReader

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse"


@pytest.fixture
def classroom(runs, monkeypatch) -> Path:
    monkeypatch.setenv("FFVIZ_TEACHER_PASSWORD", PASSWORD)
    return runs


def session(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.query_params.update(params or {})
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def start(at: AppTest, epochs: int = 200) -> str:
    ok(at.switch_page("pages/train.py").run())
    at.selectbox(key="cfg_preset").set_value("classroom-mini")
    at.number_input(key="cfg_epochs").set_value(epochs)
    at.selectbox(key="cfg_device").set_value("cpu")
    ok(at.run())
    at.button(key="btn_start").click().run()
    return ok(at).session_state["run"]


CALLBACKS = ("pause", "step", "stop", "resume", "live lr", "continue", "delete")


def _call_as_another_session(run_id: str, action: str) -> None:
    """A script (AppTest.from_function) that calls one steering callback on run_id as a session that does not own
    it, then shows what the app shows after any action: the refusal."""
    import streamlit as st

    from ffviz.store import places
    from ffviz.store.catalog import summarize
    from pages.common import FRAME_KEY
    from pages.common.runs import run_actions
    from pages.common.server import access_ui
    from pages.common.train import controls, settings

    st.session_state[FRAME_KEY] = True  # as streamlit_app.py marks every run
    if action in ("pause", "step", "stop"):
        controls._steer(run_id, action)
    elif action == "resume":
        controls._resume(run_id, "paused")
    elif action == "live lr":
        st.session_state["run"] = run_id
        st.session_state["cfg_lr"] = 0.3
        settings._live_change("lr")
    else:
        row = summarize(places.find_run(run_id), "local")
        run_actions.continue_run(row, 5) if action == "continue" else run_actions._delete(row)
    access_ui.show_denied()


def crafted(widget):
    """The widget as a crafted request would treat it: enabled (the server must refuse, not the browser)."""
    widget.proto.disabled = False
    return widget


def manager(runs: Path):
    from pages.common.frame import state

    return state._manager(str(runs))


def wait_running(runs: Path, run_id: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while manager(runs).info(run_id).state != "running":
        assert time.time() < deadline, "the run did not start"
        time.sleep(0.3)


def test_owner_rules():
    me, other = new_token(), new_token()
    mine, theirs, teachers = {"owner": me}, {"owner": other}, {}
    student, teacher = Identity(me, teacher=False), Identity(new_token(), teacher=True)
    assert can_steer(student, mine) and not can_steer(student, theirs) and not can_steer(student, teachers)
    assert all(can_steer(teacher, m) for m in (mine, theirs, teachers))
    assert "Another session" in why_not(student, theirs) and "teacher" in why_not(student, teachers)


def test_another_session_can_watch_a_run_but_not_steer_it(classroom):
    owner = session()
    run_id = start(owner)
    wait_running(classroom, run_id)
    assert RunReader(classroom / run_id).meta["owner"] == owner.session_state["_ffviz_token"]
    assert not owner.button(key="btn_stop").disabled  # the owner steers it

    other = ok(session({"run": run_id, "page": "train"}))
    assert other.session_state["run"] == run_id  # it opens and watches the run
    for key in ("btn_pause", "btn_step", "btn_stop", "btn_resume"):
        assert other.button(key=key).disabled, key
    assert any("Another session started this run" in c.value for c in other.caption)
    # A request for the disabled Stop all the same (as a crafted websocket message would send): refused.
    crafted(other.button(key="btn_stop")).click().run()
    ok(other)
    # ... and a live change of the learning rate: not applied to the run
    other.select_slider(key="cfg_lr").set_value(0.3).run()
    ok(other)
    time.sleep(1.5)
    assert manager(classroom).info(run_id).state == "running"
    assert not any(e.action in ("stop", "set") for e in RunReader(classroom / run_id).events)
    # The Runs page: neither delete nor continue
    ok(other.switch_page("pages/runs.py").run())
    other.selectbox(key="runs_pick").set_value(run_id).run()
    assert ok(other).button(key="runs_delete").disabled and other.button(key="runs_continue").disabled
    crafted(other.button(key="runs_continue")).click().run()
    crafted(other.button(key="runs_delete")).click().run()
    assert not any(b.key == "runs_delete_yes" for b in ok(other).button)
    assert (classroom / run_id).exists() and manager(classroom).info(run_id).state == "running"

    # Streamlit drops a forged request for a disabled widget; behind it, every steering callback asks again. Called
    # as another session (what a button enabled a moment too long, or a future widget, would run): each refuses.
    for action in CALLBACKS:
        at = AppTest.from_function(_call_as_another_session, args=(run_id, action), default_timeout=60).run()
        assert any("Refused to" in e.value for e in ok(at).error), action
    assert manager(classroom).info(run_id).state == "running" and (classroom / run_id).exists()
    assert not any(e.action in ("stop", "pause", "step", "set") for e in RunReader(classroom / run_id).events)

    # The teacher signs in and may stop it.
    teacher = ok(session({"run": run_id, "page": "train"}))
    teacher.text_input(key="teacher_password").input(PASSWORD)
    teacher.button[[b.label for b in teacher.button].index("Sign in")].click().run()
    ok(teacher.switch_page("pages/train.py").run())
    assert not teacher.button(key="btn_stop").disabled
    teacher.button(key="btn_stop").click().run()
    assert manager(classroom).wait(run_id, timeout=60)
    assert manager(classroom).info(run_id).state == "stopped"


def test_a_wrong_password_is_refused(classroom):
    at = ok(session())
    at.text_input(key="teacher_password").input("guess")
    at.button[[b.label for b in at.button].index("Sign in")].click().run()
    ok(at)
    from pages.common.server import access_ui

    # (AppTest shows the sidebar of a session's first run only; the refusal is drawn there, see the browser test)
    assert at.session_state["_ffviz_token"] not in access_ui._teachers()
    assert at.session_state["teacher_password"] == ""  # the field is emptied


def test_the_teachers_classroom_settings_bind_students_whatever_their_link(classroom):
    ClassroomSettings(hide=("lr",), lock=("stop",), lock_all=True).save(classroom)
    student = ok(session({"page": "train", "hide": "", "lock": ""}))  # a link cannot undo them
    assert not any(w.key == "cfg_lr" for w in student.select_slider)
    assert student.selectbox(key="cfg_preset").disabled and student.button(key="btn_stop").disabled
    assert not student.button(key="btn_start").disabled  # Start stays the students' unless named


@pytest.mark.parametrize(("params", "limit"), [
    ({"widths": "2000,4000"}, "max_parameters is 50,000,000"),
    ({"dataset": "digits", "image_size": "256"}, "max_image_size is 64 px"),  # on disk: a missing set disables Start
    ({"epochs": "1000"}, "max_epochs is 300"),
])
def test_a_link_beyond_the_limits_is_refused_and_starts_nothing(classroom, params, limit):
    at = ok(session({"page": "train", **params}))
    at.button(key="btn_start").click().run()
    assert any(limit in e.value for e in ok(at).error), [e.value for e in at.error]
    assert manager(classroom).active() == [] and not any((classroom / d).is_dir() and d != "uploaded"
                                                        for d in (p.name for p in classroom.iterdir()))


def test_the_train_page_beyond_a_limit_set_by_the_server_is_refused(classroom, monkeypatch):
    monkeypatch.setenv("FFVIZ_LIMIT_MAX_EPOCHS", "5")
    at = ok(session({"page": "train"}))
    at.number_input(key="cfg_epochs").set_value(6).run()
    at.button(key="btn_start").click().run()
    assert any("max_epochs is 5" in e.value for e in ok(at).error)
    assert manager(classroom).active() == []


def test_the_runs_page_states_the_limits_and_a_bad_setting(classroom, monkeypatch):
    monkeypatch.setenv("FFVIZ_LIMIT_MAX_EPOCHS", "5")
    monkeypatch.setenv("FFVIZ_LIMIT_MAX_QUEUE", "lots")
    at = ok(session({"page": "runs"}))
    text = " ".join(m.value for m in at.markdown)
    assert "`max_epochs` **5**" in text and "`max_parameters` **50,000,000**" in text
    assert any("max_queue='lots'" in w.value for w in at.warning)


def test_the_teacher_saves_classroom_settings_from_the_sidebar(runs):
    at = ok(session())  # no password on this server: the one person here is the teacher
    assert not [w for w in at.multiselect if w.key == "cls_hide"]  # the form is drawn only while its box is open
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.session_state["classroom_open"] = True  # "Classroom settings" opened (AppTest keeps the sidebar of one run)
    ok(at.run())
    at.multiselect(key="cls_hide").set_value(["seed"])
    at.toggle(key="cls_lock_all").set_value(True)
    at.number_input(key="cls_limit_max_epochs").set_value(40)
    next(b for b in at.button if b.label == "Save for the whole class").click().run()
    ok(at)
    saved = ClassroomSettings.load(runs)
    assert saved.hide == ("seed",) and saved.lock_all and dict(saved.limits) == {"max_epochs": 40}
