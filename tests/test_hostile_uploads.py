"""Every upload attack the review found is refused with a message, leaves nothing behind and costs the server under
50 MiB; retention goes by the server's time of receipt; and a run folder with wrongly typed files (however it got
there) never breaks a page: every page draws with it shown, listed, compared."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import ATTACKS, build_all, future_dated
from run_support import finished_tiny_run
from streamlit.testing.v1 import AppTest

from ffviz.store.archive import UploadError, export_archive, import_upload
from ffviz.store.catalog import scan_runs
from ffviz.store.progress import run_label
from ffviz.store.retention import enforce_retention
from ffviz.store.runs import RunReader
from pages.common.frame.keys import PAGES as ALL_PAGES

REPO = Path(__file__).resolve().parents[1]
RSS_BUDGET_MIB = 50


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def files(run, tmp_path_factory) -> dict[str, Path]:
    return build_all(run, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_hostile_upload_is_refused_and_leaves_nothing(attack, files, tmp_path):
    dest = tmp_path / "uploaded"
    with pytest.raises(UploadError, match=re.escape(ATTACKS[attack][2])) as refused:
        import_upload(files[attack].read_bytes(), dest, filename=files[attack].name)
    assert files[attack].name in str(refused.value)  # the message names the file
    assert not dest.exists() or not any(dest.iterdir()), "a refused upload left something behind"


def test_an_upload_beyond_the_servers_unpack_limit_is_refused(run, tmp_path):
    data = export_archive(run)
    with pytest.raises(UploadError, match="max_upload_unpacked"):
        import_upload(data, tmp_path, filename="run.zip", max_unpacked=1024)
    assert not any(tmp_path.iterdir())


def test_the_same_run_uploaded_honestly_is_accepted_and_owned_by_the_uploader(run, tmp_path):
    made = import_upload(export_archive(run), tmp_path, filename="run.zip", owner="a" * 32)
    meta = RunReader(made).meta
    assert meta["owner"] == "a" * 32 and meta["status"] == "finished" and "uploaded" in meta


def test_a_downloaded_archive_does_not_carry_its_owners_token(run, tmp_path):
    import io
    import zipfile

    from ffviz.store.runs import update_meta

    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    update_meta(copy, owner="b" * 32)
    with zipfile.ZipFile(io.BytesIO(export_archive(copy))) as z:
        meta = json.loads(z.read(next(n for n in z.namelist() if n.endswith("/meta.json"))))
    assert "owner" not in meta and meta["status"] == "finished"


# A subprocess, so that the memory it reports is the upload path's alone (torch and numpy loaded first). Linux: the
# peak resident size (VmHWM) is reset before each upload (/proc/self/clear_refs), so each attack's own peak is read.
RSS_SCRIPT = """
import json, sys
from pathlib import Path
import numpy, torch
from ffviz.store.archive import UploadError, import_upload

def status(key):  # MiB
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) / 1024

good, dest, *hostile = sys.argv[1:]
import_upload(Path(good).read_bytes(), Path(dest), filename="good.zip")  # warm-up: lazy imports, caches
out = {}
for path in hostile:
    data = Path(path).read_bytes()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    try:
        import_upload(data, Path(dest), filename=Path(path).name)
        refused = False
    except UploadError:
        refused = True
    out[Path(path).name] = [refused, status("VmHWM") - before, status("VmRSS") - before]
print(json.dumps(out))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="reads the peak memory the Linux way")
def test_hostile_uploads_cost_the_server_under_50_mib(run, files, tmp_path):
    good = tmp_path / "good.zip"
    good.write_bytes(export_archive(run))
    proc = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(good), str(tmp_path / "dest"),
                           *map(str, files.values())], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (refused, peak, now) in result.items():
        assert refused, f"{name} was accepted"
        # the resident memory after it, and its own peak while it was read
        assert now < RSS_BUDGET_MIB, f"{name}: the RSS grew by {now:.0f} MiB"
        assert peak < RSS_BUDGET_MIB, f"{name}: the peak RSS grew by {peak:.0f} MiB"


def test_retention_goes_by_the_time_of_receipt_not_the_files_own_dates(run, tmp_path):
    future = import_upload(future_dated(run), tmp_path, filename="future.zip")
    assert RunReader(future).meta["uploaded"] < "2999", "the server stamps its own time of receipt"
    later = [import_upload(export_archive(run), tmp_path, filename=f"later{i}.zip") for i in range(2)]
    removed = enforce_retention(tmp_path, max_runs=2)
    assert removed == [future], "the oldest upload by receipt goes first, whatever date it claims"
    assert all(d.exists() for d in later)


def test_retention_bounds_the_disk_an_uploads_folder_uses(run, tmp_path):
    made = [import_upload(export_archive(run), tmp_path, filename=f"r{i}.zip") for i in range(3)]
    one = sum(f.stat().st_size for f in made[0].rglob("*") if f.is_file())
    removed = enforce_retention(tmp_path, max_runs=100, max_bytes=int(one * 1.5))
    assert removed == made[:2] and made[2].exists()


# ----------------------------------------------------------------------------------------------------- readers
def plant(run: Path, root: Path, name: str, edit) -> Path:
    """A copy of run under root, one of its files made hostile (as an older ffviz might have let in)."""
    dest = root / name
    shutil.copytree(run, dest)
    edit(dest)
    return dest


def _meta(d: Path) -> None:
    meta = json.loads((d / "meta.json").read_text())
    meta.update(status={"evil": 1}, name=["x"], epochs_done="lots", num_parameters="many", created=12,
                class_names=5, split_sizes="big", error=[1])
    (d / "meta.json").write_text(json.dumps(meta))


def _test(d: Path) -> None:
    (d / "test.json").write_text(json.dumps({"kind": "test", "acc_alpha": "high", "epoch": [1]}))


def _epochs(d: Path) -> None:
    lines = (d / "epochs.jsonl").read_text().splitlines()
    rec = json.loads(lines[-1])
    rec.update(acc_alpha=[1], epoch="one", val_acc="all")
    (d / "epochs.jsonl").write_text("\n".join([*lines, json.dumps(rec), "[" * 50_000 + "]" * 50_000]) + "\n")


def _deep(d: Path) -> None:
    (d / "meta.json").write_text("[" * 100_000 + "]" * 100_000)


HOSTILE_FOLDERS = {"20260102-000000-learnable-classroom-mini-meta": _meta,
                   "20260102-000001-learnable-classroom-mini-test": _test,
                   "20260102-000002-learnable-classroom-mini-epochs": _epochs,
                   "20260102-000003-learnable-classroom-mini-deep": _deep}


def test_readers_survive_wrongly_typed_run_files(run, tmp_path):
    planted = [plant(run, tmp_path, name, edit) for name, edit in HOSTILE_FOLDERS.items()]
    rows = {r.run_id: r for r in scan_runs({"local": tmp_path})}
    assert set(rows) == {p.name for p in planted}, "every folder is still listed"
    for d in planted:
        assert isinstance(run_label(d), str)
        reader = RunReader(d)
        assert all(isinstance(e.acc_alpha, float) for e in reader.epochs)  # the bad records are dropped
    assert rows[planted[1].name].test_acc is None and rows[planted[0].name].status == "interrupted"


PAGES = [p.script for p in ALL_PAGES if p.name != "sweep"]


def test_every_page_draws_after_hostile_uploads_and_with_hostile_folders(run, files, runs):
    for path in files.values():  # through the upload path: all refused, nothing lands
        with pytest.raises(UploadError):
            import_upload(path.read_bytes(), runs / "uploaded", filename=path.name)
    planted = [plant(run, runs, name, edit) for name, edit in HOSTILE_FOLDERS.items()]
    good = plant(run, runs / "uploaded", "20260101-000000-learnable-classroom-mini-good", lambda d: None)
    for shown in planted:
        at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180)
        at.query_params.update({"run": shown.name, "compare": f"{shown.name},{good.name}"})
        at.run()
        for page in PAGES:
            at.switch_page(page).run()
            assert not at.exception, f"{shown.name} on {page}: {[e.value for e in at.exception]}"
