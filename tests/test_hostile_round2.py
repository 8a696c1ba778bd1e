"""The second attack round on the classroom server (issue 19): each attack, built here in tmp (tests/hostile.py),
against the real function it hit, and the bound that now stops it. The browser tests (test_browser_hostile.py,
test_browser_two_students.py) drive the same attacks through a real server."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hostile import (
    ATTACKS,
    big_config_without_probes,
    npz_zero_width,
    reference_graph,
    reference_graph_checkpoint,
)
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

from ffviz.config import RunConfig
from ffviz.method.trainer import Trainer
from ffviz.runner.run_writer import RunWriter
from ffviz.runner.steering import ControlFile, FileControl
from ffviz.runner.sweep_spec import Axis, SweepSpec
from ffviz.runner.sweep_store import Sweep
from ffviz.server import signin
from ffviz.server.limits import LimitError, Limits, check_run
from ffviz.server.signin import SignInThrottle, TeacherSessions, delay_after
from ffviz.server.upload_process import STAGE, import_in_process, run_worker
from ffviz.store import archive
from ffviz.store.archive import UploadError, export_archive, import_upload
from ffviz.store.retention import enforce_retention
from ffviz.store.runs import RunReader, new_run_dir, update_meta
from ffviz.store.untrusted import check_tensors

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory.mktemp("source"))


# ----------------------------------------------------------------------------------------------------- 1. (C, 0)
def test_a_zero_width_snapshot_is_refused_before_any_page_loops_over_it(run, tmp_path):
    data = npz_zero_width(run)
    assert len(data) < 1_000_000  # small on the wire (the run itself): twenty million channels of zero bytes
    with pytest.raises(UploadError, match=r"w_0 has shape \(20000000, 0\)"):
        import_upload(data, tmp_path / "up", filename="zw.zip")
    assert not [p for p in (tmp_path / "up").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize(("key", "shape", "says"), [
    ("w_0", (10, 0), "0 classes"), ("w_0", (0, 10), "0 channels"), ("g_0", (8, 3), "expected (8, 10)"),
    ("p_0", (8, 11), "expected (8, 10)"), ("probe_y", (9,), "same length"), ("w_1", (200_000, 10), "channels"),
])
def test_every_dimension_a_page_loops_over_is_bounded_and_consistent(run, tmp_path, key, shape, says):
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    arrays[key] = np.zeros(shape, dtype=arrays[key].dtype)
    path = tmp_path / "s.npz"
    np.savez(path, **arrays)
    from ffviz.store.untrusted import check_npz

    with pytest.raises(ValueError, match=re.escape(says)):
        check_npz(path, max_bytes=2 ** 30)


# ----------------------------------------------------------------------------------------------------- 2. staging
def test_a_failed_upload_removes_only_its_own_staging_folder(run, tmp_path, monkeypatch):
    """A classmate's upload that completes while this one is being checked stays, whatever this one's fate."""
    dest = tmp_path / "uploaded"
    real = archive._validate_staged

    def classmate_arrives_then_fail(stage, filename, *limits):
        real(stage, filename, *limits)
        monkeypatch.setattr(archive, "_validate_staged", real)
        import_upload(export_archive(run), dest, filename="classmate.zip", owner="b" * 32)  # completes meanwhile
        raise ValueError("this one fails after the classmate's arrived")

    monkeypatch.setattr(archive, "_validate_staged", classmate_arrives_then_fail)
    with pytest.raises(UploadError):
        import_upload(export_archive(run), dest, filename="mine.zip", owner="a" * 32)
    kept = [p for p in dest.iterdir() if not p.name.startswith(".")]
    assert len(kept) == 1 and RunReader(kept[0]).meta["owner"] == "b" * 32
    assert not [p for p in dest.iterdir() if p.name.startswith(archive.STAGING_PREFIX)]


def test_a_worker_that_dies_costs_only_its_stage_the_authors_import_path_too(tmp_path):
    """run_worker serves uploads and the authors' import (``--runs-dir {stage}``): a worker that wrote half a run
    and died leaves a classmate's finished upload in place; one that succeeds is moved out of its stage."""
    dest = tmp_path / "uploaded"
    dest.mkdir()
    (dest / "classmates-run").mkdir()
    script = ("import pathlib, sys; pathlib.Path(sys.argv[1], 'half').mkdir(); sys.exit(1)")
    assert run_worker([sys.executable, "-c", script, STAGE], dest)[0] is None
    script = ("import json, pathlib, sys; d = pathlib.Path(sys.argv[1], 'new-run'); d.mkdir(); "
              "print(json.dumps({'run': str(d)}))")
    answer, _ = run_worker([sys.executable, "-c", script, STAGE], dest)
    assert answer == {"run": str(dest / "new-run")}
    assert sorted(p.name for p in dest.iterdir() if not p.name.startswith(".")) == ["classmates-run", "new-run"]


# ----------------------------------------------------------------------------------------------------- 3. retention
def _fake_runs(template: Path, root: Path, n: int, owner: str | None, day: int) -> list[Path]:
    made = []
    for i in range(n):
        dest = root / f"2026-{day:02d}-{owner or 'teacher'}-{i:03d}"
        shutil.copytree(template, dest)
        update_meta(dest, created=f"2026-01-{day:02d}T10:{i // 60:02d}:{i % 60:02d}", owner=owner)
        made.append(dest)
    return made


def test_one_students_hundred_runs_push_out_none_of_anyone_elses(run, tmp_path):
    a = _fake_runs(run, tmp_path, 3, "a" * 32, day=1)  # the oldest runs of the folder
    teacher = _fake_runs(run, tmp_path, 2, None, day=1)
    b = _fake_runs(run, tmp_path, 100, "b" * 32, day=2)
    gone = enforce_retention(tmp_path, max_runs=10, owner="b" * 32)
    assert len(gone) == 90 and all(p in b for p in gone)
    assert all(p.exists() for p in a + teacher)
    # the byte bound per owner too: b's folder is bounded, a's untouched
    gone = enforce_retention(tmp_path, max_runs=10, owner="b" * 32, max_bytes=1)
    assert all(p in b for p in gone) and all(p.exists() for p in a + teacher)


# ----------------------------------------------------------------------------------------------------- 4. datasets
def test_an_uploaded_run_never_makes_a_page_load_its_dataset(run, runs, monkeypatch):
    """128 px x 3 channels without probes.npz: the Goodness page draws and loads no dataset for it."""
    up = import_upload(big_config_without_probes(run), runs / "uploaded", filename="big.zip", owner="c" * 32)
    from pages.common.frame import images

    def no_load(*args, **kwargs):
        raise AssertionError("a page loaded the dataset of a run it did not train")

    monkeypatch.setattr(images, "load_dataset", no_load)
    assert not images.trained_here_within_limits(RunReader(up).config, up)
    assert images.validation_image(RunReader(up).config, 0, up) is None
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.query_params["run"] = up.name
    at.run()
    at.switch_page("pages/goodness.py").run()
    assert not at.exception, [e.value for e in at.exception]


def test_a_run_trained_here_beyond_the_dataset_limit_loads_nothing(run, runs):
    from pages.common.frame import images

    here = runs / "here"
    shutil.copytree(run, here)
    cfg = RunReader(here).config
    assert images.trained_here_within_limits(cfg, here)
    assert not images.trained_here_within_limits(cfg.replace(image_size=128, channels=3), here)


# ----------------------------------------------------------------------------------------------------- 5. sign-in
def test_200_wrong_passwords_take_over_100_s_and_the_right_one_works_after():
    """An attacker who tries as fast as the throttle lets them, on an injected clock: every try during a wait is
    refused unheard, so 200 checked guesses take the sum of the waits."""
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    keys = [("session", "s" * 32), ("client", "10.0.0.9")]
    refused_unheard = 0
    for _ in range(200):
        while (wait := throttle.wait(keys)) > 0:
            refused_unheard += 1  # a try during the wait: not checked
            now[0] += min(wait, 0.05)  # 20 tries a second while waiting
        throttle.failed(keys)
    assert now[0] >= 100, now[0]
    assert refused_unheard > 1000
    now[0] += throttle.wait(keys)  # the teacher waits out the last delay, then signs in
    assert throttle.wait(keys) == 0
    throttle.succeeded(keys)
    assert throttle.failures(("client", "10.0.0.9")) == 0


def test_fresh_sessions_from_one_address_share_its_delay():
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for i in range(10):  # a new cookie for every guess
        keys = [("session", f"{i:032d}"), ("client", "10.0.0.9")]
        now[0] += throttle.wait(keys)
        throttle.failed(keys)
    # an address's wait is capped at ADDRESS_CAP_S (a classmate must not lock the teacher out, issue 27 hole 10)
    assert throttle.wait([("session", "f" * 32), ("client", "10.0.0.9")]) == delay_after(10, signin.ADDRESS_CAP_S) \
        == signin.ADDRESS_CAP_S
    assert throttle.wait([("session", "f" * 32), ("client", "10.0.0.8")]) == 0  # another address is not slowed


def test_the_delay_grows_and_is_capped():
    delays = [delay_after(n) for n in range(1, 12)]
    assert delays[:2] == [0, 0] and delays[2:6] == [1, 2, 4, 8] and max(delays) == signin.CAP_S
    assert delays == sorted(delays)


def test_teacher_status_expires():
    now = [0.0]
    teachers = TeacherSessions(hours=8, clock=lambda: now[0])
    teachers.add("t" * 32)
    assert "t" * 32 in teachers
    now[0] += 8 * 3600 + 1
    assert "t" * 32 not in teachers


def _sign_in_script() -> None:
    """One session pressing Sign in with the password in its state (as the sidebar's form callback does)."""
    import streamlit as st

    from pages.common.server import access_ui, teacher_ui

    if st.session_state.get("press"):
        st.session_state["press"] = False
        teacher_ui._sign_in()
    st.write(access_ui.identity().token)


def test_sign_in_rotates_the_token_and_wrong_tries_are_slowed(runs, monkeypatch):
    monkeypatch.setenv("FFVIZ_TEACHER_PASSWORD", "correct horse")
    from pages.common.server import access_ui

    at = AppTest.from_function(_sign_in_script, default_timeout=60).run()
    planted = at.session_state["_ffviz_token"]  # as if fixed in advance by a planted cookie

    def press(password: str) -> None:
        at.session_state["teacher_password"] = password
        at.session_state["press"] = True
        at.run()
        assert not at.exception

    for _ in range(signin.FREE_TRIES):
        press("guess")
        assert at.session_state["_teacher_wrong"]
    assert access_ui._throttle().wait([("session", planted)]) > 0.5
    press("correct horse")  # during the wait: not even checked
    assert at.session_state["_teacher_wait"] >= 1 and planted not in access_ui._teachers()
    access_ui._throttle().succeeded([("session", planted)])  # the wait is over
    press("correct horse")
    token = at.session_state["_ffviz_token"]
    assert token != planted and token in access_ui._teachers() and planted not in access_ui._teachers()
    assert at.session_state["_ffviz_cookie_set"] is False  # the new token goes into the browser's cookie


def test_the_cookie_is_samesite_strict_and_secure_over_https():
    text = (REPO / "pages" / "common" / "server" / "access_ui.py").read_text()
    assert "SameSite=Strict" in text and "location.protocol === 'https:' ? '; Secure'" in text


# ----------------------------------------------------------------------------------------------------- 6. caps
def test_fresh_cookies_from_one_address_take_at_most_its_share_of_a_class_experiment(tmp_path):
    spec = SweepSpec(name="class", base=RunConfig(preset="classroom-mini", epochs=1),
                     axes=(Axis("lambda_entropy", (0.0, 0.1, 0.2)), Axis("lambda_orth", (0.0, 0.5, 1.0))), seeds=(1, 2))
    sweep = Sweep.create(tmp_path, spec, kind="class")
    assert len(sweep.slots()) == 18
    got = [sweep.claim(f"{i:032x}", client="10.0.0.2", per_client=2) for i in range(18)]
    assert sum(s is not None for s in got) == 2
    assert sweep.client_share_taken("10.0.0.2", 2) and not sweep.client_share_taken("10.0.0.3", 2)
    assert sweep.claim("a" * 32, client="10.0.0.3", per_client=2) is not None  # a classmate still gets one
    # the holder of a claim keeps it (renewed): it does not count twice
    again = sweep.claim(f"{0:032x}", client="10.0.0.2", per_client=2)
    assert again is not None and (again.cell, again.seed) == (got[0].cell, got[0].seed)


def test_runs_per_client_address_are_capped_whatever_the_cookie():
    cfg = RunConfig(preset="classroom-mini", epochs=1)
    limits = Limits()
    check_run(cfg, limits, owner_active=0, client_active=limits.max_runs_per_client - 1)
    with pytest.raises(LimitError, match="max_runs_per_client"):
        check_run(cfg, limits, owner_active=0, client_active=limits.max_runs_per_client)
    with pytest.raises(LimitError, match="max_owner_bytes"):
        check_run(cfg, limits, owner_bytes=limits.max_owner_bytes + 1)


def test_check_submit_counts_the_client_address(runs, monkeypatch):
    """Runs started by other cookies from the same address count against this session's start."""
    monkeypatch.setenv("FFVIZ_TEACHER_PASSWORD", "pw")
    from types import SimpleNamespace

    from pages.common.server import access_ui

    monkeypatch.setattr(access_ui, "client_address", lambda: "10.0.0.5")
    active = []
    for i in range(Limits().max_runs_per_client):
        d = runs / f"r{i}"
        d.mkdir()
        (d / "meta.json").write_text(json.dumps({"owner": f"{i:032x}", "client": "10.0.0.5"}))
        active.append(SimpleNamespace(dir=d, state="running"))
    assert not access_ui.check_submit(RunConfig(preset="classroom-mini", epochs=1), active, new_run=False)
    import streamlit as st

    assert "max_runs_per_client" in st.session_state.pop(access_ui.DENIED_KEY)


# ----------------------------------------------------------------------------------------------------- 7. owners
def test_a_copy_of_a_shipped_run_is_owned_by_the_session_that_made_it(run, runs, monkeypatch):
    from pages.common.runs import run_actions
    from pages.common.server import access_ui

    monkeypatch.setattr(access_ui, "client_address", lambda: "10.0.0.7")
    copy = run_actions.copy_shipped(run)
    meta = RunReader(copy).meta
    assert meta["owner"] == access_ui.identity().token and meta["client"] == "10.0.0.7"
    assert meta["max_bytes"] == access_ui.limits().max_run_bytes
    assert "owner" not in json.loads(next(iter(_zip_members(export_archive(copy), "meta.json"))))
    assert "client" not in json.loads(next(iter(_zip_members(export_archive(copy), "meta.json"))))


def _zip_members(data: bytes, name: str):
    import io
    import zipfile

    z = zipfile.ZipFile(io.BytesIO(data))
    return [z.read(n) for n in z.namelist() if n.endswith("/" + name)]


# ----------------------------------------------------------------------------------------------------- 8. workers
def test_a_reference_graph_is_refused_at_once_in_process():
    graph = reference_graph(60)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="reached twice"):
        check_tensors({"history": graph}, max_bytes=2 ** 20)
    assert time.perf_counter() - t0 < 0.1


def test_a_worker_refuses_the_reference_graph_checkpoint_in_under_5_s(run, tmp_path):
    data = reference_graph_checkpoint(run)
    t0 = time.perf_counter()
    with pytest.raises(UploadError, match="reached twice"):
        import_in_process(data, tmp_path / "up", filename="graph.pt")
    took = time.perf_counter() - t0
    print(f"worker refused the reference-graph checkpoint ({len(data)} bytes) in {took:.2f} s")
    assert took < 5, took


def test_workers_are_niced_memory_capped_and_two_at_a_time(tmp_path):
    probe = ("import json, os, resource; print(json.dumps({'as': resource.getrlimit(resource.RLIMIT_AS)[0], "
             "'nice': os.nice(0)}))")
    answer, why = run_worker([sys.executable, "-c", probe], tmp_path / "up", address_space=2 ** 30)
    assert answer is not None, why
    assert 2 ** 30 < answer["as"] < 2 ** 30 + 2 ** 29  # what the interpreter has mapped, plus the budget
    assert answer["nice"] == min(19, os.nice(0) + 10)
    # the upload worker caps itself once torch is in: the cap is then what torch mapped plus its budget
    probe = ("import json, resource, torch; from ffviz.server.worker_limits import cap_address_space, mapped_bytes; "
             "before = mapped_bytes(); cap = cap_address_space(2 ** 30); print(json.dumps({'mapped': before, "
             "'as': resource.getrlimit(resource.RLIMIT_AS)[0]}))")
    answer, why = run_worker([sys.executable, "-c", probe], tmp_path / "up", address_space=None)
    assert answer is not None and answer["as"] >= answer["mapped"] + 2 ** 30 > 2 ** 31, (answer, why)
    # a worker that allocates beyond its cap fails inside itself
    hog = "x = bytearray(6 * 2 ** 30)"
    answer, why = run_worker([sys.executable, "-c", hog], tmp_path / "up", address_space=2 ** 30)
    assert answer is None and "MemoryError" in why
    # a third worker at once (a third owner) waits for a turn, and is refused when none comes; a second worker of
    # the same owner is refused at once (ffviz/server/bounded.py)
    sleeper = "import time; time.sleep(3); print('{}')"
    threads = [threading.Thread(target=run_worker, args=([sys.executable, "-c", sleeper], tmp_path / "up"),
                                kwargs={"owner": owner}) for owner in ("a" * 32, "b" * 32)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    answer, why = run_worker([sys.executable, "-c", "print('{}')"], tmp_path / "up", wait=0.2, owner="c" * 32)
    again, why_again = run_worker([sys.executable, "-c", "print('{}')"], tmp_path / "up", wait=5, owner="a" * 32)
    for t in threads:
        t.join()
    assert answer is None and "already running 2 uploads" in why
    assert again is None and "you already have" in why_again


# ----------------------------------------------------------------------------------------------------- 9. markdown
def test_a_runs_error_is_shown_as_typed_never_as_markdown(run, runs):
    target = runs / "interrupted"
    shutil.copytree(run, target)
    update_meta(target, status="interrupted", error="**bold** [a link](https://example.com) :red[red]")
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.query_params["run"] = target.name
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    warning = next(w.value for w in at.warning if "interrupted" in w.value)
    assert r"\*\*bold\*\* \[a link\]" in warning and r"\:red\[red\]" in warning


# ----------------------------------------------------------------------------------------------------- 10. steering
@pytest.mark.parametrize("junk", ['{"seq": "x", "commands": []}', '{"seq": 1e400, "commands": []}',
                                  '{"seq": 2, "commands": [{"seq": "x", "action": "stop"}, {"seq": 1e400}]}',
                                  '{"seq": 1, "commands": [{"seq": 1, "action": "set", "changes": {"lr": 1e400}}]}',
                                  '{"seq": 1, "commands": [{"seq": 1, "action": "explode"}]}', "[[[", "7"])
def test_control_json_junk_is_ignored_and_noted(tmp_path, junk):
    (tmp_path / "control.json").write_text(junk)
    control = FileControl(tmp_path)  # reads it at once: must not raise
    notes = control.take_notes()
    assert notes and all("control.json" in n for n in notes)
    assert not control.stop_requested and not control.paused and control.take_changes() == {}
    ControlFile(tmp_path).pause()  # the server's next write drops the junk and goes on numbering
    control.poll()
    assert control.paused


def test_steering_works_again_after_junk_reset_the_numbering(tmp_path):
    control = FileControl(tmp_path)
    for _ in range(3):
        ControlFile(tmp_path).pause()
        control.poll()
    (tmp_path / "control.json").write_text('{"seq": "x", "commands": []}')
    control.poll()
    ControlFile(tmp_path).stop()  # numbered 1 again: the run must still obey it
    control.poll()
    assert control.stop_requested


def test_junk_in_control_json_is_recorded_as_an_event_and_the_run_goes_on(tmp_path):
    cfg = RunConfig(preset="classroom-mini", epochs=1, batch_size=128, probe_size=4, device="cpu")
    run_dir = new_run_dir(tmp_path, cfg)
    (run_dir / "control.json").write_text('{"seq": 1e400, "commands": [{"seq": "x", "action": "stop"}]}')
    assert Trainer(cfg, control=FileControl(run_dir), callbacks=[RunWriter(run_dir)]).fit() == "finished"
    ignored = [e for e in RunReader(run_dir).events if e.action == "ignored"]
    assert ignored and "seq=inf" in ignored[0].message


def test_a_run_beyond_its_disk_bound_stops_with_a_clear_message(tmp_path):
    cfg = RunConfig(preset="classroom-mini", epochs=3, batch_size=128, probe_size=4, device="cpu")
    run_dir = new_run_dir(tmp_path, cfg)
    (run_dir / "meta.json").write_text(json.dumps({"max_bytes": 200_000}))  # as the app writes it: 0.2 MB
    assert Trainer(cfg, callbacks=[RunWriter(run_dir)]).fit() == "failed"
    meta = RunReader(run_dir).meta
    assert "max_run_bytes" in meta["error"] and "stopped here" in meta["error"]
    assert meta["epochs_done"] < 3 and meta["status"] == "failed"


def test_the_app_gives_every_run_it_starts_a_disk_bound(runs):
    from pages.common.server import access_ui

    meta = access_ui.run_meta()
    assert meta["max_bytes"] == access_ui.limits().max_run_bytes and isinstance(meta["owner"], str)


# ----------------------------------------------------------------------------------------------------- the server
def test_the_server_watches_no_files():
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"


def test_every_attack_of_this_round_is_in_the_browser_tests_list():
    assert {"(C, 0) snapshot", "reference-graph checkpoint", "probes.npz bomb"} <= set(ATTACKS)
    assert not math.isfinite(json.loads("1e400"))  # what the steering attack relies on


# ----------------------------------------------------------------------------------------------------- memory
def test_the_contributions_figures_need_no_sklearn_and_agree_with_it():
    """The Contributions page pulled scikit-learn and scipy into the server for a confusion matrix and a PCA (what a
    wave that first visited it left behind); numpy gives the same numbers."""
    probe = ("import sys, numpy as np; from ffviz.figures.contributions import confusion_counts, principal_axes; "
             "confusion_counts(np.arange(4) % 2, np.arange(4) % 2, 2); principal_axes(np.eye(4), 2); "
             "print('sklearn' in sys.modules, 'scipy' in sys.modules)")
    import subprocess

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr[-2000:]
    from sklearn.decomposition import PCA
    from sklearn.metrics import confusion_matrix

    from ffviz.figures.contributions import confusion_counts, principal_axes

    rng = np.random.default_rng(0)
    yt, yp = rng.integers(0, 10, 300), rng.integers(-1, 11, 300)
    assert (confusion_counts(yt, yp, 10) == confusion_matrix(yt, yp, labels=list(range(10)))).all()
    x = rng.normal(size=(30, 12))
    z, ev = principal_axes(x, 2)
    pca = PCA(n_components=2, random_state=0)
    assert np.allclose(z, pca.fit_transform(x)) and np.allclose(ev, pca.explained_variance_ratio_)
