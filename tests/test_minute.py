"""A class's first minute without a browser (issue 26): sweeps' runs wait behind everyone's Starts in a share of
their own and a cancel takes them back; refusals say what to do; a dataset not on disk is named before Start; run
titles and notes are plain, bounded text kept in the archive; a new tab opens its own run or a shipped one."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from ffviz.config import RunConfig
from ffviz.data.presence import missing_data
from ffviz.runner.launcher import Launcher
from ffviz.runner.manager import RunManager
from ffviz.runner.sweep_spec import Axis, SweepSpec
from ffviz.runner.sweep_store import Sweep, launch
from ffviz.server.limits import LimitError, Limits, check_run
from ffviz.store.archive import export_archive
from ffviz.store.folder import RunFolder, is_archive_member
from ffviz.store.notes import MAX_NOTE, MAX_TITLE, read_notes, write_notes
from ffviz.store.runs import init_run_dir, new_run_dir
from ffviz.store.runstate import read_meta

# A launcher whose "run" only sleeps: the queue's order and shares are the subject, not training.
SLEEPER = Launcher(template="sh -c 'sleep 60' {args}", niceness=0)


def tiny(**kw) -> RunConfig:
    return RunConfig(**{**dict(preset="classroom-mini", epochs=1, batch_size=256, image_size=8, probe_size=8,
                               device="cpu"), **kw})


def statuses(root: Path, ids) -> list[str]:
    return [read_meta(root / i).get("status") for i in ids]


def test_sweep_runs_wait_behind_starts_in_their_share_and_cancel_takes_them_back(tmp_path):
    m = RunManager(tmp_path, max_running=2, launcher=SLEEPER, sweep_share=1, tick_seconds=60)
    try:
        spec = SweepSpec(base=tiny(), axes=(Axis("lambda_entropy", (0.0, 0.01)),), seeds=(1, 2), name="grid")
        sweep = Sweep.create(tmp_path, spec, owner="teacher")
        swept = launch(sweep, m)
        m.tick()
        assert sorted(statuses(tmp_path, swept)).count("starting") == 1  # its share: one of the two slots
        assert {i.sweep for i in m.active()} == {sweep.id}
        mine = m.submit(tiny(), owner="student")
        assert read_meta(tmp_path / mine)["status"] == "starting"  # the free slot went to the Start
        waiting = m.submit(tiny(), owner="student 2")
        assert m.queue_position(waiting) == 1  # ahead of the sweep's three queued runs
        stopped = sweep.cancel(m)
        assert set(stopped) == set(swept)
        assert "queued" not in statuses(tmp_path, swept)
        assert launch(Sweep.open(sweep.dir), m) == []  # a cancelled sweep starts nothing again
        assert Sweep.open(sweep.dir).cancelled and Sweep.open(sweep.dir).owner == "teacher"
    finally:
        m.shutdown(timeout=1)


def test_a_full_queue_says_wait_not_choose_a_smaller_setting():
    limits = Limits(max_queue=2)
    with pytest.raises(LimitError) as refused:
        check_run(tiny(), limits, queued=2)
    text = str(refused.value)
    assert "queue is full" in text and "smaller setting" not in text and "Start again" in text
    with pytest.raises(LimitError, match="Stop or wait for one of them"):
        check_run(tiny(), Limits(max_runs_per_owner=1), owner_active=1)
    with pytest.raises(LimitError, match="smaller setting"):
        check_run(tiny(epochs=500), Limits(max_epochs=10))


def test_a_dataset_not_on_disk_is_named_with_what_to_fetch_and_where(tmp_path):
    assert missing_data("digits", root=tmp_path, downloads=False) is None  # bundled
    why = missing_data("mnist", root=tmp_path, downloads=False)
    assert why and str(tmp_path / "MNIST" / "raw") in why and "train-images-idx3-ubyte" in why
    assert missing_data("mnist", root=tmp_path, downloads=True) is None  # the run downloads it
    assert "cifar-10" in missing_data("cifar10", root=tmp_path, downloads=False)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"placed by hand")
    assert missing_data("cifar10", root=tmp_path, downloads=False) is None
    assert "tiny-imagenet-200" in missing_data("tiny-imagenet", root=tmp_path, downloads=True)


def test_titles_and_notes_are_plain_bounded_and_in_the_archive(tmp_path):
    run_dir = new_run_dir(tmp_path, tiny(), "demo")
    init_run_dir(run_dir, tiny(), name="demo", owner="t", extra={})
    assert not read_notes(run_dir)
    notes = write_notes(run_dir, title="  demo for\tperiod 3\n", note="**not bold**\nline two\x00")
    assert notes.title == "demo forperiod 3" and notes.note == "**not bold**\nline two"
    assert read_notes(run_dir) == notes
    with pytest.raises(ValueError, match=f"at most {MAX_TITLE}"):
        write_notes(run_dir, title="x" * (MAX_TITLE + 1), note="")
    # a hostile notes.json (an upload) reads back cut to its bounds, never whole
    RunFolder(run_dir).notes.write_text(json.dumps({"title": "t" * 5000, "note": ["not text"]}))
    assert read_notes(run_dir).title == "t" * MAX_TITLE and read_notes(run_dir).note == ""
    write_notes(run_dir, title="kept", note="n" * MAX_NOTE)
    assert is_archive_member(("notes.json",))
    with zipfile.ZipFile(io.BytesIO(export_archive(run_dir))) as z:
        assert json.loads(z.read(f"{run_dir.name}/notes.json"))["title"] == "kept"


def test_a_new_tab_opens_its_own_newest_run_else_a_shipped_classroom_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FFVIZ_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("FFVIZ_SHIPPED_DIR", raising=False)
    from ffviz.store import places
    from pages.common.frame import state

    assert state.first_run("me") == ""  # nothing of its own: the view pages show a shipped run instead
    shipped = state.shipped_recipe_run()
    assert shipped and (places.shipped_root() / shipped).is_dir()
    cfg = RunConfig.from_dict(json.loads((places.shipped_root() / shipped / "config.json").read_text()))
    assert (cfg.dataset, cfg.preset, cfg.mode) == ("digits", "classroom", "learnable")
    others = new_run_dir(tmp_path, tiny(), "theirs")
    init_run_dir(others, tiny(), name="theirs", owner="classmate", extra={})
    assert state.first_run("me") == ""  # never a classmate's run
    cli = new_run_dir(tmp_path, tiny(), "cli")
    init_run_dir(cli, tiny(), name="cli", owner=None, extra={})
    assert state.first_run("me") == cli.name  # the machine owner's (no session's): a demo the teacher trained
    own = new_run_dir(tmp_path, tiny(), "mine")
    init_run_dir(own, tiny(), name="mine", owner="me", extra={})
    assert state.first_run("me") == own.name


def test_an_owner_titles_and_notes_a_run_on_the_runs_page_shown_as_typed(runs):
    from run_support import finished_tiny_run
    from streamlit.testing.v1 import AppTest

    run_dir = finished_tiny_run(runs, image_size=8)  # no session owns it: the teacher's (every session, no password)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    at.text_input(key=f"runs_title_{run_dir.name}").set_value("demo for **period 3**")
    at.text_area(key=f"runs_note_{run_dir.name}").set_value("_not italic_ [a link](http://x)")
    at.button(key=f"runs_notes_save_{run_dir.name}").click().run()
    assert not at.exception
    assert read_notes(run_dir).title == "demo for **period 3**"
    page = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert r"demo for \*\*period 3\*\*" in page  # escaped: shown as typed, never bold
    assert r"\_not italic\_" in page
    at.switch_page("pages/assignments.py").run()  # the run header names it too
    assert not at.exception
    assert r"demo for \*\*period 3\*\*" in " ".join(m.value for m in at.markdown)
