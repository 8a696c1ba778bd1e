"""The Runs, Compare and Gap pages and share links, under Streamlit's AppTest: a shipped run opens on every view
page and scrubs; two shipped runs compare; the gap view starts on the shipped runs; a link's settings fill the
widgets, a teacher's hidden controls are absent and locked ones disabled; a bad link shows a note, never a
traceback; a downloaded run uploaded again gives the same table row; a run continued from the Runs page adds epochs
to its own history; a shipped run is continued as a copy and never deleted."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ffviz.config import RunConfig
from ffviz.data import load_dataset
from ffviz.method.trainer import Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.store.archive import export_archive
from ffviz.store.catalog import scan_runs
from ffviz.store.runs import RunReader

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "assets" / "runs"
TIMEOUT = 180
DEFAULT = "learnable (default lambdas)"

pytestmark = pytest.mark.skipif(not any(SHIPPED.glob("*/config.json")), reason="the shipped runs are not in "
                                "assets/runs (bash assets/runs/make_shipped_runs.sh)")


def shipped_id(name: str) -> str:
    return next(r.run_id for r in scan_runs({"shipped": SHIPPED}) if r.name == name)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished one-epoch classroom-mini run on 8x8 digits (a second or two on one CPU thread)."""
    run_dir = tmp_path_factory.mktemp("tiny") / "20260101-000000-learnable-classroom-mini-tiny"
    cfg = RunConfig(preset="classroom-mini", epochs=1, batch_size=256, image_size=8, probe_size=8, device="cpu")
    data = load_dataset("digits", image_size=8)
    assert Trainer(cfg, data=data, callbacks=[RunWriter(run_dir, name="tiny")]).fit() == "finished"
    return run_dir


def app(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.query_params.update(params or {})
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def visit(at: AppTest, page: str) -> AppTest:
    return ok(at.switch_page(page).run())


def table(at: AppTest):
    return at.dataframe(key="runs_table").value if any(d.key == "runs_table" for d in at.dataframe) else None


def by_key(at: AppTest, kind: str, key: str):
    return [w for w in at.get(kind) if getattr(w, "key", None) == key]


def wait_for(predicate, timeout: float = 240, every: float = 0.3):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_open_a_shipped_run_and_scrub_it(runs):
    at = visit(ok(app().run()), "pages/runs.py")
    rows = table(at)
    shipped = len([d for d in SHIPPED.iterdir() if (d / "config.json").exists()])
    assert len(rows) == shipped and set(rows["source"]) == {"shipped"}
    assert {"name", "date", "dataset", "preset", "mode", "λ entropy", "λ orth", "epochs", "test acc %",
            "best val acc %", "wall time s", "device", "parameters", "size MB"} <= set(rows.columns)
    # filter and sort
    at.multiselect(key="runs_mode").set_value(["static"]).run()
    assert sorted(table(at)["name"]) == ["static partition", "static partition, seed 2", "static partition, seed 3"]
    at.multiselect(key="runs_mode").set_value([]).run()
    at.text_input(key="runs_search").set_value("entropy").run()
    assert list(table(at)["name"]) == ["learnable, no entropy"]
    at.text_input(key="runs_search").set_value("").run()
    at.selectbox(key="runs_sort").set_value("test accuracy").run()
    accs = list(table(at)["test acc %"])
    assert accs == sorted(accs, reverse=True)
    # open: it becomes the run of every view page, with its epoch slider
    run_id = shipped_id(DEFAULT)
    at.selectbox(key="runs_pick").set_value(run_id).run()
    at.button(key="runs_open").click().run()
    ok(at)
    assert at.session_state["run"] == run_id and at.title[0].value == "Assignments"
    visit(at, "pages/assignments.py")  # AppTest reruns the page it last switched to; a browser stays here
    at.select_slider(key="asg_epoch").set_value(3).run()
    ok(at)
    assert "epoch 3" in str(at.get("plotly_chart")[0].proto.spec)
    for page in ("pages/regularizers.py", "pages/goodness.py", "pages/contributions.py"):
        visit(at, page)
        assert len(at.get("plotly_chart")) >= 2 and any(s.key.endswith("_epoch") for s in at.select_slider), page
    assert not list(runs.iterdir()), "browsing a shipped run writes nothing"


def test_compare_two_shipped_runs(runs):
    at = visit(ok(app().run()), "pages/compare.py")
    assert len(at.multiselect(key="cmp_runs").value) == 2  # starts on the shipped learnable and static runs
    default, strong = shipped_id(DEFAULT), shipped_id("learnable, strong orthogonality")
    at.multiselect(key="cmp_runs").set_value([default, strong]).run()
    ok(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 3
    spec = str(charts[0].proto.spec)
    assert DEFAULT in spec and "learnable, strong orthogonality" in spec
    diff = at.dataframe[0].value  # settings that differ (a read-only table has no key in AppTest)
    assert list(diff["setting"]) == ["lambda_orth", "orth_warmup_epochs"]
    at.multiselect(key="cmp_runs").set_value([default]).run()
    assert ok(at).info and not at.get("plotly_chart")


def test_the_gap_view_starts_on_the_shipped_runs(runs):
    at = visit(ok(app().run()), "pages/gap.py")
    assert at.selectbox(key="gap_original_ff").value == shipped_id("original FF")
    assert at.selectbox(key="gap_static").value == shipped_id("static partition")
    assert at.selectbox(key="gap_learnable").value == shipped_id(DEFAULT)
    assert at.selectbox(key="gap_backprop").value == shipped_id("backprop")
    assert len(at.get("plotly_chart")) == 6
    gap = at.dataframe[0].value
    assert list(gap["how it learns"]) == ["original FF (Hinton)", "static partition", "learnable (CAW-Conv)",
                                          "backprop"]
    assert list(gap["seeds"]) == ["1,2,3"] * 4  # each mode's three shipped seeds, read as one
    sentence = next(m.value for m in at.markdown if "What these runs show." in m.value)
    assert "3 seeds" in sentence
    at.slider(key="gap_threshold").set_value(99).run()
    assert "Epochs to reach 99%" in str(ok(at).get("plotly_chart")[4].proto.spec)


def test_a_link_fills_the_settings_and_hides_and_locks_controls(runs):
    at = ok(app({"page": "train", "lambda_entropy": "0.03", "epochs": "5", "seed": "7", "mode": "static",
                 "hide": "lr,seed,stop", "lock": "all,run_picker"}).run())
    assert at.title[0].value == "Train" and not at.warning
    ss = at.session_state
    assert (ss["cfg_lambda_entropy"], ss["cfg_epochs"], ss["cfg_seed"], ss["cfg_mode"]) == (0.03, 5, 7, "static")
    assert not by_key(at, "select_slider", "cfg_lr") and not by_key(at, "number_input", "cfg_seed")
    assert not by_key(at, "button", "btn_stop")
    assert not by_key(at, "button", "btn_start")[0].disabled  # lock=all locks settings; students still train
    for kind, key in (("number_input", "cfg_epochs"), ("select_slider", "cfg_lambda_entropy"),
                      ("selectbox", "cfg_mode"), ("selectbox", "run_picker"), ("button", "cfg_restore")):
        assert by_key(at, kind, key)[0].disabled, key
    assert dict(at.query_params) == {"hide": "lr,seed,stop", "lock": "all,run_picker"}  # reloads keep them
    # a student's "copy link" keeps the teacher's restrictions; there is no teacher panel for them
    link = at.get("code")[0].value
    assert "hide=lr,seed,stop&lock=all,run_picker" in link and "lambda_entropy=0.03" in link
    assert not [w for w in at.get("multiselect") if w.key == "share_hide"]


def test_a_link_to_a_view_page_sets_its_run_epoch_and_layer(runs):
    run_id = shipped_id("static partition")
    at = ok(app({"page": "assignments", "run": run_id, "epoch": "4", "layer": "2", "lock": "epoch"}).run())
    assert at.session_state["run"] == run_id and at.title[0].value == "Assignments"
    slider = at.select_slider(key="asg_epoch")
    assert slider.value == 4 and slider.disabled
    assert at.selectbox(key="asg_layer").value == 2 and not at.selectbox(key="asg_layer").disabled


def test_links_to_compare_and_gap_pick_their_runs(runs):
    a, b = shipped_id(DEFAULT), shipped_id("learnable, no entropy")
    at = ok(app({"page": "compare", "compare": f"{b},{a}"}).run())
    assert at.title[0].value == "Compare runs" and at.multiselect(key="cmp_runs").value == [b, a]
    static = shipped_id("static partition")
    at = ok(app({"page": "gap", "compare": f"{b},{static}"}).run())
    assert at.selectbox(key="gap_learnable").value == b and at.selectbox(key="gap_static").value == static


def test_compare_reads_runs_that_differ_only_by_seed_as_one_bar(runs):
    static = [shipped_id(n) for n in ("static partition", "static partition, seed 2", "static partition, seed 3")]
    at = ok(app({"page": "compare", "compare": ",".join([*static, shipped_id(DEFAULT)])}).run())
    grouped = [c for c in at.get("plotly_chart") if "differ only by seed" in str(c.proto.spec)]
    assert len(grouped) == 1
    bars = json.loads(grouped[0].proto.spec)["data"][0]
    assert [x.split(" · ")[0] for x in bars["x"]] == ["static partition<br>3 seeds", "learnable (CAW-Conv)<br>1 seed"]


def test_a_link_built_by_the_app_opens_the_same_screen(runs):
    at = app()
    # the teacher's picks, made before the first run: AppTest shows the sidebar of a session's first run only
    at.session_state["share_hide"], at.session_state["share_lock_all"] = ["lr"], True
    ok(at.run())
    teacher = at.get("code")[1].value
    from urllib.parse import parse_qsl, urlsplit

    params = dict(parse_qsl(urlsplit(teacher).query))
    assert params["hide"] == "lr" and params["lock"] == "all" and params["page"] == "home"
    student = ok(app(params).run())
    assert not student.warning and student.session_state["run"] == at.session_state["run"]


def test_bad_link_parameters_show_a_note_and_no_traceback(runs):
    at = ok(app({"page": "train", "epochs": "99999", "lr": "fast", "wings": "3", "run": "no-such-run",
                 "hide": "everything", "lock": "<script>", "epoch": "-1", "mode": "", "widths": "20,30"}).run())
    assert at.title[0].value == "Train"
    note = at.warning[0].value
    for expected in ("epochs=99999 is out of range (1 to 1000); using 1000", "lr='fast': expected a number",
                     "'wings'", "'no-such-run'", "'everything'", "'<script>'", "mode=''", "Ignored widths=20,30"):
        assert expected in note, expected
    assert at.session_state["cfg_epochs"] == 1000 and at.session_state["cfg_lr"] == 0.08
    visit(at, "pages/runs.py")
    assert not at.warning  # the note belongs to the page the link opened
    for params in ({"page": "nowhere"}, {"run": "../../etc"}, {"epoch": "1e999", "page": "goodness"},
                   {"seed": "NaN", "batch_size": "0"}, {"compare": "nope,../x", "page": "compare"}):
        odd = ok(app(params).run())
        assert odd.warning, params


def test_download_then_upload_gives_the_same_row(runs):
    at = visit(ok(app().run()), "pages/runs.py")
    run_id = shipped_id(DEFAULT)
    data = export_archive(SHIPPED / run_id)  # what the page's "Run archive" button serves
    at.file_uploader(key="runs_upload").set_value((f"{run_id}.zip", data, "application/zip")).run()
    ok(at)
    assert "Uploaded" in at.success[0].value
    rows = table(at)
    uploaded = rows[rows["source"] == "uploaded"]
    assert len(uploaded) == 1 and at.selectbox(key="runs_pick").value == uploaded["id"].iloc[0]
    same = ["name", "date", "dataset", "preset", "mode", "λ entropy", "λ orth", "epochs", "test acc %",
            "best val acc %", "wall time s", "device", "parameters", "status"]
    original = rows[rows["id"] == run_id]
    assert uploaded[same].reset_index(drop=True).equals(original[same].reset_index(drop=True))
    # the upload opens and scrubs like any run
    at.button(key="runs_open").click().run()
    assert ok(at).title[0].value == "Assignments"
    # a file that is not a run: an error, nothing else changes
    visit(at, "pages/runs.py")
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x/run.sh", "rm -rf /")
    at.file_uploader(key="runs_upload").set_value(("evil.zip", bad.getvalue(), "application/zip")).run()
    assert "not part of an ffviz run folder" in ok(at).error[0].value
    assert len(table(at)) == len(rows)  # the shipped runs and the one upload, nothing more


def test_continue_a_run_for_more_epochs_adds_to_its_history(runs, tiny_run):
    run_dir = runs / tiny_run.name
    shutil.copytree(tiny_run, run_dir)
    at = visit(ok(app().run()), "pages/runs.py")
    at.selectbox(key="runs_pick").set_value(run_dir.name).run()
    at.number_input(key="runs_more").set_value(1).run()
    at.button(key="runs_continue").click().run()
    ok(at)
    assert at.session_state["run"] == run_dir.name and at.title[0].value == "Train"
    reader = wait_for(lambda: (r := RunReader(run_dir)).meta.get("status") == "finished" and len(r.epochs) == 3 and r)
    assert [e.epoch for e in reader.epochs] == [0, 1, 2] and reader.test.epoch == 2
    assert [p.name for p in runs.iterdir() if (p / "config.json").exists()] == [run_dir.name]  # the same folder
    visit(at, "pages/runs.py")
    row = table(at)[table(at)["id"] == run_dir.name].iloc[0]
    assert row["epochs"] == "2/2" and row["status"] == "finished"


def test_a_shipped_run_is_continued_as_a_copy_and_cannot_be_deleted(runs):
    run_id = shipped_id("static partition")
    before = hashlib.sha256((SHIPPED / run_id / "epochs.jsonl").read_bytes()).hexdigest()
    at = visit(ok(app().run()), "pages/runs.py")
    at.selectbox(key="runs_pick").set_value(run_id).run()
    assert not by_key(at, "button", "runs_delete") and any("cannot be deleted" in c.value for c in at.caption)
    at.number_input(key="runs_more").set_value(1).run()
    at.button(key="runs_continue").click().run()
    copy = runs / ok(at).session_state["run"]
    assert copy.parent == runs and "continued" in copy.name
    records = RunReader(SHIPPED / run_id).config.epochs + 2  # epoch 0, the shipped epochs, one more
    reader = wait_for(lambda: (r := RunReader(copy)).meta.get("status") == "finished" and len(r.epochs) == records
                      and r, timeout=300)
    assert [e.epoch for e in reader.epochs] == list(range(records))
    assert hashlib.sha256((SHIPPED / run_id / "epochs.jsonl").read_bytes()).hexdigest() == before


def test_delete_asks_first(runs, tiny_run):
    run_dir = runs / tiny_run.name
    shutil.copytree(tiny_run, run_dir)
    at = visit(ok(app().run()), "pages/runs.py")
    at.selectbox(key="runs_pick").set_value(run_dir.name).run()
    at.button(key="runs_delete").click().run()
    assert run_dir.exists() and "cannot be undone" in ok(at).warning[0].value
    at.button(key="runs_delete_no").click().run()
    assert run_dir.exists() and not at.warning
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    ok(at)
    assert not run_dir.exists() and run_dir.name not in set(table(at)["id"])
    assert at.session_state["run"] == ""  # it was the session's run
