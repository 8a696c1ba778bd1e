"""The third review's holes, each closed at its root and tested with the input that found it (built in tmp by
tests/hostile.py; the refusals of its ATTACKS are in test_hostile_uploads.py):

1-3. records that do not add up never reach a page through an upload, and a folder an older server let in is drawn
     as one message, never an exception, on every page, with its Delete reachable; uploads never join a shipped
     run's seeds, and the figures place NaN, infinities and unequal lengths as missing;
4, 6. every worker goes through one bounded runner (one per owner, a server-wide cap, niced, a time limit, output to
     disk, killed with its server); downloads are files on a shelf, caches are bounded in bytes; the authors'-logs
     uploader is bounded on the server;
7, 8. a tuple-graph config is refused; the authors'-logs import keeps to the upload bounds;
11. an upload's note is plain text; 12. a killed server's leftovers are swept; 14. Continue uses config.json.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile import UNCHECKED, nan_seed_copy, tuple_graph, unpack_unchecked
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

from ffviz import records
from ffviz.comparison import ComparedRun
from ffviz.config import RunConfig
from ffviz.figures.compare import gap_ensemble_figure
from ffviz.figures.seeds import seed_bar_figure, seed_layer_figure
from ffviz.seed_groups import group_by_seed, mean_sd, vote_on_test
from ffviz.server import bounded
from ffviz.server.downloads import Shelf, TooLarge
from ffviz.server.leftovers import sweep_leftovers
from ffviz.store.archive import import_upload
from ffviz.store.catalog import scan_runs
from ffviz.store.filecache import ByteLRU
from ffviz.store.runs import update_meta
from ffviz.store.untrusted import check_config_value
from pages.common.frame.keys import PAGES as ALL_PAGES

REPO = Path(__file__).resolve().parents[1]
PAGES = [p.script for p in ALL_PAGES if p.name != "sweep"]
STUDENT = "s" * 32


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory.mktemp("source"))


# ----------------------------------------------------------------------------------------------------- 1-3
def _plant_unchecked(run: Path, uploaded: Path) -> list[Path]:
    """Inputs 1-3 as an older server let them in: the newest finished uploads, a student's."""
    planted = []
    for i, (attack, build) in enumerate(UNCHECKED.items()):
        d = unpack_unchecked(build(run), uploaded, f"2099010{i}-000000-learnable-classroom-mini-{i}")
        meta = json.loads((d / "meta.json").read_text())
        meta.update(status="finished", owner=STUDENT, uploaded=f"2099-01-0{i + 1}T00:00:00", name=attack)
        (d / "meta.json").write_text(json.dumps(meta))
        planted.append(d)
    return planted


def test_bad_records_draw_as_one_message_on_every_page_and_the_teacher_deletes_them(run, runs):
    uploaded = runs / "uploaded"
    planted = _plant_unchecked(run, uploaded)
    nan_copy = import_upload(nan_seed_copy(run), uploaded, filename="nan-seed.zip", owner=STUDENT)  # accepted
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)  # a newcomer: the newest upload
    at.run()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, f"a newcomer on {page}: {[e.value for e in at.exception]}"
    for shown in [*planted, nan_copy]:
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
        at.query_params.update({"run": shown.name})
        at.run()
        for page in PAGES:
            at.switch_page(page).run()
            assert not at.exception, f"{shown.name} on {page}: {[e.value for e in at.exception]}"
    # the teacher (no password set: every session is) deletes each from the Runs page
    for shown in [*planted, nan_copy]:
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
        at.query_params.update({"run": shown.name})
        at.run()
        at.switch_page("pages/runs.py").run()
        assert not at.exception
        next(b for b in at.button if b.label == "Delete…").click().run()
        next(b for b in at.button if b.label == "Yes, delete it").click().run()
        assert not shown.exists(), f"{shown.name} was not deleted"


def test_the_runs_table_holds_what_a_column_cannot(run, tmp_path):
    d = unpack_unchecked(UNCHECKED["num_parameters 2**70"](run), tmp_path, "20990101-000000-learnable-x")
    row = scan_runs({"uploaded": tmp_path})[0]
    import pandas as pd
    import pyarrow as pa

    assert row.as_row()["parameters"] is None
    pa.Table.from_pandas(pd.DataFrame([row.as_row()]))  # what st.dataframe converts: no OverflowError
    assert d.exists()


def _compared(seed: int, acc: float, layer_acc: list[float], origin: str) -> ComparedRun:
    test = records.TestRecord(epoch=1, acc_alpha=acc, acc_sum=acc, acc_last=acc, acc_best_layer=acc, best_layer=0,
                      layer_acc=layer_acc)
    return ComparedRun(label=f"seed {seed}", epochs=[], config=RunConfig(preset="classroom-mini", seed=seed),
                       test=test, origin=origin)


def test_uploads_never_join_a_shipped_runs_seeds_and_figures_skip_what_is_not_a_number():
    shipped = [_compared(1, 90.0, [80.0, 85.0], "shipped"), _compared(2, 92.0, [81.0, 86.0], "shipped")]
    upload = _compared(3, math.nan, [math.inf], "uploaded:" + STUDENT)
    groups = group_by_seed([*shipped, upload])
    assert [len(g.runs) for g in groups] == [2, 1]
    assert groups[0].mean_sd(vote_on_test) == (91.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([math.nan, math.inf, 1.0, -math.inf]) == (1.0, 0.0)
    # a group of its own seeds with NaN, infinity and unequal lengths: the figures draw
    odd = group_by_seed([_compared(4, math.nan, [1.0], "local"), _compared(5, math.inf, [1.0, math.nan, 3.0],
                                                                        "local"), *shipped])
    seed_bar_figure(odd, vote_on_test, title="t")
    seed_layer_figure(odd)
    gap_ensemble_figure([r for g in odd for r in g.runs])


# ----------------------------------------------------------------------------------------------------- 4, 6
def test_the_bounded_runner_streams_output_to_disk_and_keeps_its_time_limit(tmp_path):
    loud = "import json, sys; sys.stdout.write('x' * (20 * 2 ** 20) + '\\n'); print(json.dumps({'ok': 1}))"
    done = bounded.run_bounded([sys.executable, "-c", loud], owner="a" * 32)
    assert done.returncode == 0 and done.answer == {"ok": 1}
    probe = "import json, os; print(json.dumps({'omp': os.environ['OMP_NUM_THREADS'], 'nice': os.nice(0)}))"
    done = bounded.run_bounded([sys.executable, "-c", probe], owner="a" * 32)
    assert done.answer == {"omp": "1", "nice": min(19, os.nice(0) + bounded.NICENESS)}
    done = bounded.run_bounded([sys.executable, "-c", "import time; time.sleep(30)"], owner="a" * 32, timeout=2)
    assert done.returncode is None and "longer than 2 s" in done.why
    assert bounded.running() == 0


SERVER = """
import sys, threading
from ffviz.server.bounded import run_bounded
run_bounded([sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
             "time.sleep(120)", sys.argv[1]], owner="x" * 32, timeout=300)
"""


def test_a_worker_dies_with_its_server(tmp_path):
    pid_file = tmp_path / "worker.pid"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(pid_file)], cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.2)
    worker = int(pid_file.read_text())
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    deadline = time.time() + 10
    while time.time() < deadline and Path(f"/proc/{worker}").exists() and "Z" not in _state(worker):
        time.sleep(0.2)
    assert not Path(f"/proc/{worker}").exists() or "Z" in _state(worker), "the worker outlived its server"


def _state(pid: int) -> str:
    try:
        return next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("State"))
    except (OSError, StopIteration):
        return "Z"


def test_a_second_worker_of_one_owner_is_refused_while_the_first_runs():
    first = threading.Thread(target=bounded.run_bounded, args=([sys.executable, "-c", "import time; time.sleep(3)"],),
                             kwargs={"owner": "o" * 32})
    first.start()
    time.sleep(0.8)
    with pytest.raises(bounded.WorkerRefused, match="you already have"):
        bounded.run_bounded([sys.executable, "-c", "print('{}')"], owner="o" * 32)
    first.join()


def test_the_shelf_builds_once_serves_unguessable_paths_and_stays_bounded(tmp_path, monkeypatch):
    from ffviz.server import downloads

    shelf = Shelf(tmp_path / "static")
    built = []

    def build(path: Path) -> None:
        built.append(path)
        path.write_bytes(b"z" * 1000)

    a = shelf.offer("run.zip", key=("archive", "r1", 1), build=build)
    assert shelf.offer("run.zip", key=("archive", "r1", 1), build=build) == a and len(built) == 1
    assert a.startswith("app/static/dl/") and (tmp_path / "static" / a.removeprefix("app/static/")).is_file()
    assert Shelf(tmp_path / "static").token(("archive", "r1", 1)) != shelf.token(("archive", "r1", 1))
    monkeypatch.setattr(downloads, "MAX_BYTES", 2500)
    for i in range(4):
        shelf.offer(f"r{i}.zip", key=("archive", f"n{i}", 1), build=build)
    assert sum(f.stat().st_size for f in shelf.dir.glob("*/*")) <= 2500
    shelf.prune(now=time.time() + downloads.TTL_S + 1)
    assert not list(shelf.dir.glob("*/*"))
    monkeypatch.setattr(downloads, "MAX_FILE_BYTES", 10)
    with pytest.raises(TooLarge):
        shelf.offer("big.zip", key=("big",), build=build)


def test_a_byte_lru_keeps_its_bound():
    lru = ByteLRU(100)
    for i in range(10):
        lru.put(i, str(i), 30)
    assert lru.nbytes <= 100 and len(lru) == 3 and lru.get(9) == "9" and lru.get(0) is None
    lru.put("huge", "x", 1000)  # larger than the bound: not kept
    assert lru.get("huge") is None


def test_the_authors_logs_uploader_is_bounded_on_the_server():
    from ffviz.interop.authors_format import LOG_FILES
    from ffviz.interop.workers import logs_files_problem

    assert logs_files_problem([(n, 100) for n in LOG_FILES]) == ""
    assert "at most" in logs_files_problem([("info_17L.csv", 100)] * (len(LOG_FILES) + 2))
    assert "MiB" in logs_files_problem([("all_epochs_layer_weights.txt", 65 * 2 ** 20)])


# ----------------------------------------------------------------------------------------------------- 7, 8
def test_a_config_is_small_and_shallow_whatever_its_containers():
    with pytest.raises(ValueError, match="nested deeper"):
        check_config_value({"data_root": tuple_graph(24)})
    with pytest.raises(ValueError, match="not valid"):
        RunConfig.from_dict({"data_root": ("a", "b")})  # text fields take text only: str() of a graph is 2^depth
    check_config_value(RunConfig().to_dict())


def test_the_authors_logs_import_keeps_to_the_upload_bounds(tmp_path, monkeypatch):
    from authors_logs_support import write_logs

    from ffviz.interop import authors_logs
    from ffviz.store import archive

    write_logs(tmp_path / "logs", epochs=19)  # W every 10th epoch: 2 snapshots
    monkeypatch.setattr(authors_logs, "MAX_SNAPSHOT_FILES", 1)
    with pytest.raises(authors_logs.AuthorsLogsError, match="snapshots"):
        authors_logs.import_logs(tmp_path / "logs", tmp_path / "runs")
    monkeypatch.setattr(authors_logs, "MAX_SNAPSHOT_FILES", 1001)
    monkeypatch.setattr(archive, "MAX_RECORDS_BYTES", 2000)  # the uploads' bound on a record log, made small
    with pytest.raises(authors_logs.AuthorsLogsError, match="epochs.jsonl is"):
        authors_logs.import_logs(tmp_path / "logs", tmp_path / "runs")
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    monkeypatch.undo()
    assert authors_logs.import_logs(tmp_path / "logs", tmp_path / "runs").is_dir()  # within the bounds: a run


# ----------------------------------------------------------------------------------------------------- 11, 12, 14
def test_an_uploads_note_is_plain_text(run, runs):
    d = unpack_unchecked(UNCHECKED["epochs repeated"](run), runs / "uploaded", "20990101-000000-learnable-note")
    (d / "epochs.jsonl").write_text((run / "epochs.jsonl").read_text())
    note = "[a link](https://evil.example) ![img](https://evil.example/i.png)"
    update_meta(d, status="finished", note=note, config_sources={"lr": "their info_17L.csv"})
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
    at.query_params.update({"run": d.name})
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any(t.value.startswith(note) for t in at.text)
    assert not any("evil.example" in m.value for m in [*at.markdown, *at.caption])


def test_a_killed_servers_leftovers_are_swept_and_a_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = [tmp_path / f".staging-{dead.pid}-ab", tmp_path / ".staging-oldformat"]
    kept = [tmp_path / f".staging-{os.getpid()}-cd", tmp_path / ".staging-recent", tmp_path / "a-run"]
    for d in [*gone, *kept]:
        d.mkdir()
        (d / "big.bin").write_bytes(b"0" * 1000)
    os.utime(gone[1], (time.time() - 7200, time.time() - 7200))
    assert sorted(sweep_leftovers([tmp_path])) == sorted(gone)
    assert all(d.exists() for d in kept)


def test_continue_trains_from_the_checked_config_json(run, tmp_path):
    import shutil

    import torch

    from ffviz.store.checkpoint import resume_checkpoint, save_checkpoint

    d = tmp_path / run.name
    shutil.copytree(run, d)
    from ffviz.store.folder import RunFolder

    path = RunFolder(d).newest_checkpoint()
    ck = torch.load(path, weights_only=True)
    # the checkpoint's own config says otherwise than config.json: a far dataset folder, another batch size; and a
    # learning rate changed while it trained (a live hyperparameter: that one is kept)
    ck["config"] = {**ck["config"], "data_root": "/somewhere/else", "batch_size": 4096, "lr": 0.0123}
    save_checkpoint(path, {k: v for k, v in ck.items() if k not in ("format", "version")})
    checked = json.loads((d / "config.json").read_text())
    cfg = RunConfig.from_dict(resume_checkpoint(d, epochs=3)["config"])
    assert (cfg.data_root, cfg.batch_size, cfg.epochs) == (checked["data_root"], checked["batch_size"], 3)
    assert cfg.lr == 0.0123
    (d / "config.json").write_text(json.dumps({**checked, "widths": [[[[[1]]]]]}))
    with pytest.raises(ValueError):
        resume_checkpoint(d)


def test_the_allocator_is_trimmed_from_one_thread_started_once():
    from ffviz.server import trim

    assert trim.trim() is (Path("/proc/self").exists() and trim.start_trimmer(3600))
    first = trim._thread
    assert trim.start_trimmer(3600) and trim._thread is first  # once per server
